"""WHM API 1 `api_token_*`: tokens are Hostplane API keys, named, with ACLs mapped to scopes and enforced,
`whitelist_ip-N` allow-lists and `expires_at`, seen by the native API and refused where the core refuses."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import update

from hostplane.auth.models import ApiKey
from hostplane.runtime import Runtime
from tests.conftest import Account, Api, activity_events
from tests.dialects.whm.whmapi import assert_access_denied, basic, call, envelope, whm_token


async def create(api: Api, admin: Account, name: str = "example", **params: Any) -> dict[str, Any]:
    body = envelope(await call(api, "api_token_create", basic(admin), token_name=name, **params), "api_token_create")
    data: dict[str, Any] = body["data"]
    return data


async def test_create_as_the_reference_sends_it(admin_api: Api, admin: Account) -> None:
    before = int(time.time())
    response = await admin_api.get("/json-api/api_token_create?api.version=1&token_name=example", headers=basic(admin))
    data = envelope(response, "api_token_create")["data"]
    assert set(data) == {"acls", "create_time", "expires_at", "name", "token", "whitelist_ips"}
    assert data["name"] == "example"
    assert data["acls"] == ["all"]
    assert data["expires_at"] is None
    assert data["whitelist_ips"] is None
    assert isinstance(data["create_time"], int) and before - 1 <= data["create_time"] <= time.time() + 1
    assert data["token"].startswith("hp_") and len(data["token"]) == 51


async def test_a_created_token_authenticates_as_whm_user_token_and_natively(admin_api: Api, admin: Account) -> None:
    token = (await create(admin_api, admin))["token"]
    for credential in (token, token.removeprefix("hp_")):
        listed = await call(admin_api, "api_token_list", whm_token("root", credential))
        assert list(envelope(listed, "api_token_list")["data"]["tokens"]) == ["example"]
    native = await admin_api.get("/api/v1/account/api-keys", token=token)
    assert [key["description"] for key in native.json()] == ["example"]


async def test_a_token_is_refused_under_another_user_name(admin_api: Api, admin: Account, make_account: Any) -> None:
    await make_account("other", role="admin")
    token = (await create(admin_api, admin))["token"]
    assert_access_denied(await call(admin_api, "api_token_list", whm_token("other", token)))


async def test_list_shows_every_token_with_its_acl_table(admin_api: Api, admin: Account) -> None:
    await create(admin_api, admin, "full")
    await create(admin_api, admin, "reader", **{"acl-0": "list-accts"}, expires_at=str(int(time.time()) + 3600))
    body = envelope(await call(admin_api, "api_token_list", basic(admin)), "api_token_list")
    tokens = body["data"]["tokens"]
    assert set(tokens) == {"full", "reader"}
    reader = tokens["reader"]
    assert set(reader) == {"acls", "create_time", "expires_at", "name", "whitelist_ips"}
    assert reader["acls"]["list-accts"] == 1
    assert reader["acls"]["all"] == 0
    assert reader["acls"]["create-acct"] == 0
    assert all(value in (0, 1) for value in reader["acls"].values())
    assert isinstance(reader["expires_at"], int)
    assert tokens["full"]["acls"]["all"] == 1
    assert "token" not in tokens["full"]


async def test_acls_are_enforced_with_a_reason(admin_api: Api, admin: Account) -> None:
    reader = whm_token("root", (await create(admin_api, admin, "reader", acl="list-accts"))["token"])
    envelope(await call(admin_api, "twofactorauth_get_user_configs", reader), "twofactorauth_get_user_configs")
    envelope(await call(admin_api, "twofactorauth_policy_status", reader), "twofactorauth_policy_status")
    refused = envelope(
        await call(admin_api, "twofactorauth_enable_policy", reader), "twofactorauth_enable_policy", result=0
    )
    assert refused["metadata"]["reason"].startswith("Permission denied")
    assert "“all”" in refused["metadata"]["reason"]
    envelope(await call(admin_api, "api_token_list", reader), "api_token_list", result=0)
    status = envelope(await call(admin_api, "twofactorauth_policy_status", basic(admin)), "twofactorauth_policy_status")
    assert status["data"] == {"is_enabled": 0}


async def test_an_acl_hostplane_cannot_express_is_refused_by_name(admin_api: Api, admin: Account) -> None:
    response = await call(admin_api, "api_token_create", basic(admin), token_name="x", **{"acl-0": "clustering"})
    reason = envelope(response, "api_token_create", result=0)["metadata"]["reason"]
    assert "“clustering”" in reason
    assert envelope(await call(admin_api, "api_token_list", basic(admin)), "api_token_list")["data"]["tokens"] == {}


async def test_whitelist_ips_limit_where_a_token_works(runtime: Runtime, admin_api: Api, admin: Account) -> None:
    data = await create(
        admin_api,
        admin,
        **{"whitelist_ip-0": "203.0.113.7", "whitelist_ip-1": "198.51.100.0/24", "whitelist-ip-2": "fc00:abcd::f"},
    )
    assert data["whitelist_ips"] == ["203.0.113.7", "198.51.100.0/24", "fc00:abcd::f"]
    headers = whm_token("root", data["token"])
    envelope(await call(admin_api, "api_token_list", headers), "api_token_list")
    envelope(await call(admin_api.from_peer("198.51.100.9"), "api_token_list", headers), "api_token_list")
    assert_access_denied(await call(admin_api.from_peer("192.0.2.1"), "api_token_list", headers))
    assert len(await activity_events(runtime, admin.user.id, "account.api_key.denied_ip")) == 1


async def test_bad_whitelist_entries_are_refused_and_create_nothing(admin_api: Api, admin: Account) -> None:
    for bad in ("999.1.1.1", "10.0.0.0/33", "not-an-ip", "10.0.0.1\r\nX: y"):
        response = await call(admin_api, "api_token_create", basic(admin), token_name="x", **{"whitelist_ip-0": bad})
        envelope(response, "api_token_create", result=0)
    assert envelope(await call(admin_api, "api_token_list", basic(admin)), "api_token_list")["data"]["tokens"] == {}


async def test_expires_at_is_kept_and_an_expired_token_stops_working(
    runtime: Runtime, admin_api: Api, admin: Account
) -> None:
    later = int(time.time()) + 3600
    data = await create(admin_api, admin, expires_at=str(later))
    assert data["expires_at"] == later
    for bad in (str(int(time.time()) - 10), "tomorrow", "-5"):
        response = await call(admin_api, "api_token_create", basic(admin), token_name="y", expires_at=bad)
        envelope(response, "api_token_create", result=0)
    async with runtime.writing(changes_user=admin.user.id) as db:
        await db.execute(update(ApiKey).values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1)))
    assert_access_denied(await call(admin_api, "api_token_list", whm_token("root", data["token"])))


async def test_names_are_validated_and_unique(admin_api: Api, admin: Account) -> None:
    await create(admin_api, admin, "taken")
    for bad in ("taken", "has space", "x" * 51, "cr\rlf", ""):
        response = await call(admin_api, "api_token_create", basic(admin), token_name=bad)
        envelope(response, "api_token_create", result=0)
    tokens = envelope(await call(admin_api, "api_token_list", basic(admin)), "api_token_list")["data"]["tokens"]
    assert list(tokens) == ["taken"]


async def test_update_renames_and_changes_acls_addresses_and_expiry(
    runtime: Runtime, admin_api: Api, admin: Account
) -> None:
    token = (await create(admin_api, admin, "token", **{"whitelist_ip-0": "203.0.113.7"}))["token"]
    later = int(time.time()) + 7200
    response = await call(
        admin_api,
        "api_token_update",
        basic(admin),
        token_name="token",
        new_name="renamed",
        **{"acl-0": "list-accts"},
        expires_at=str(later),
    )
    data = envelope(response, "api_token_update")["data"]
    assert data["name"] == "renamed"
    assert "list-accts" in data["acls"] and "all" not in data["acls"]
    assert data["expires_at"] == later
    assert data["whitelist_ips"] == ["203.0.113.7"]
    cleared = await call(admin_api, "api_token_update", basic(admin), token_name="renamed", whitelist_ip="any")
    assert envelope(cleared, "api_token_update")["data"]["whitelist_ips"] is None
    headers = whm_token("root", token)
    envelope(
        await call(admin_api.from_peer("192.0.2.1"), "twofactorauth_policy_status", headers),
        "twofactorauth_policy_status",
    )
    envelope(await call(admin_api, "api_token_list", headers), "api_token_list", result=0)
    assert len(await activity_events(runtime, admin.user.id, "account.api_key.updated")) == 2


async def test_update_of_an_unknown_token_fails(admin_api: Api, admin: Account) -> None:
    response = await call(admin_api, "api_token_update", basic(admin), token_name="ghost", new_name="x")
    assert envelope(response, "api_token_update", result=0)["metadata"]["reason"] == (
        "The API token “ghost” does not exist."
    )


async def test_revoke_ends_the_token_everywhere(admin_api: Api, admin: Account) -> None:
    one = (await create(admin_api, admin, "one"))["token"]
    await create(admin_api, admin, "two")
    await create(admin_api, admin, "three")
    response = await call(admin_api, "api_token_revoke", basic(admin), **{"token_name-1": "one", "token_name-2": "two"})
    assert "data" not in envelope(response, "api_token_revoke")
    assert_access_denied(await call(admin_api, "api_token_list", whm_token("root", one)))
    assert (await admin_api.get("/api/v1/account", token=one)).status_code == 401
    tokens = envelope(await call(admin_api, "api_token_list", basic(admin)), "api_token_list")["data"]["tokens"]
    assert list(tokens) == ["three"]
    missing = await call(admin_api, "api_token_revoke", basic(admin), token_name="one")
    envelope(missing, "api_token_revoke", result=0)


async def test_with_an_api_token_changing_tokens_needs_the_password(admin_api: Api, admin: Account) -> None:
    headers = whm_token("root", (await create(admin_api, admin, "ops"))["token"])
    refused = await call(admin_api, "api_token_create", headers, token_name="more")
    assert envelope(refused, "api_token_create", result=0)["metadata"]["reason"].startswith("Permission denied")
    wrong = await call(admin_api, "api_token_create", headers, token_name="more", password="wrong-password")
    assert envelope(wrong, "api_token_create", result=0)["metadata"]["reason"] == "The password provided is incorrect."
    made = await call(admin_api, "api_token_create", headers, token_name="more", password=admin.password)
    assert envelope(made, "api_token_create")["data"]["name"] == "more"
    revoked = await call(admin_api, "api_token_revoke", headers, token_name="more")
    envelope(revoked, "api_token_revoke", result=0)


async def test_get_details_finds_a_token_by_itself(admin_api: Api, admin: Account) -> None:
    token = (await create(admin_api, admin, "detail", **{"acl-0": "ssl-info"}))["token"]
    response = await call(admin_api, "api_token_get_details", basic(admin), token=token)
    data = envelope(response, "api_token_get_details")["data"]
    assert data["name"] == "detail"
    assert data["acls"] == ["ssl-info"]
    assert set(data) == {"acls", "create_time", "expires_at", "name", "whitelist_ips"}
    unknown = await call(admin_api, "api_token_get_details", basic(admin), token="hp_" + "A" * 48)
    assert "data" not in envelope(unknown, "api_token_get_details")
    wrong_secret = token[:-1] + ("B" if token[-1] != "B" else "C")
    assert "data" not in envelope(
        await call(admin_api, "api_token_get_details", basic(admin), token=wrong_secret), "api_token_get_details"
    )


async def test_keys_made_natively_are_listed_by_name_or_identifier(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    for description in ("deploy", "deploy", "two words"):
        created = await admin_api.post("/api/v1/account/api-keys", json={"description": description})
        assert created.status_code == 201, created.text
    keys = {key["description"]: key["identifier"] for key in (await admin_api.get("/api/v1/account/api-keys")).json()}
    tokens = envelope(await call(admin_api, "api_token_list", basic(admin)), "api_token_list")["data"]["tokens"]
    assert "deploy" in tokens
    assert keys["two words"] in tokens
    assert len(tokens) == 3
