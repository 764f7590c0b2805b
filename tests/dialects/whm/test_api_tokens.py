"""WHM API 1 `api_token_*`: tokens are Hostplane API keys, named, with ACLs mapped to scopes and enforced,
`whitelist_ip-N` allow-lists and `expires_at`, seen by the native API and refused where the core refuses; a token
that may manage tokens does so without the password, but never makes or leaves a token with more than it holds."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import update

from hostplane.auth.models import ApiKey
from hostplane.runtime import Runtime
from tests.api.test_api_keys import stored_keys
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


def identifier_of(token: str) -> str:
    return token.removeprefix("hp_")[:16]


def refused(response: Any, function: str) -> str:
    """WHM's refusal of a call the token may not make: HTTP 200, `result: 0`, a "Permission denied" reason."""
    reason: str = envelope(response, function, result=0)["metadata"]["reason"]
    assert reason.startswith("Permission denied"), reason
    return reason


def epoch_in_days(days: int) -> str:
    return str(int(time.time()) + days * 86400)


async def test_an_api_token_with_every_acl_changes_tokens_without_the_password_but_not_with_a_wrong_one(
    runtime: Runtime, admin_api: Api, admin: Account
) -> None:
    token = (await create(admin_api, admin, "ops"))["token"]
    headers = whm_token("root", token)
    before = await stored_keys(runtime, admin.user.id)
    wrong = await call(admin_api, "api_token_create", headers, token_name="more", password="wrong-password")
    assert envelope(wrong, "api_token_create", result=0)["metadata"]["reason"] == "The password provided is incorrect."
    assert await stored_keys(runtime, admin.user.id) == before
    made = await call(admin_api, "api_token_create", headers, token_name="more")
    assert envelope(made, "api_token_create")["data"]["name"] == "more"
    updated = await call(admin_api, "api_token_update", headers, token_name="more", new_name="renamed")
    assert envelope(updated, "api_token_update")["data"]["name"] == "renamed"
    wrong = await call(admin_api, "api_token_revoke", headers, token_name="renamed", password="wrong-password")
    envelope(wrong, "api_token_revoke", result=0)
    revoked = await call(admin_api, "api_token_revoke", headers, token_name="renamed")
    envelope(revoked, "api_token_revoke")
    tokens = envelope(await call(admin_api, "api_token_list", headers), "api_token_list")["data"]["tokens"]
    assert list(tokens) == ["ops"]
    for event in ("account.api_key.created", "account.api_key.updated", "account.api_key.deleted"):
        entry = (await activity_events(runtime, admin.user.id, event))[-1]
        assert entry.api_key == identifier_of(token), event


async def test_a_token_whose_acls_do_not_allow_it_changes_no_token(
    runtime: Runtime, admin_api: Api, admin: Account
) -> None:
    """Managing tokens needs write access to the account (the ACL `all`); neither an ACL of another area nor a
    read-only key made natively has it, with or without the password."""
    await create(admin_api, admin, "target")
    await admin_api.login(admin)
    native = await admin_api.post(
        "/api/v1/account/api-keys", json={"description": "reader", "scopes": ["account:read"]}
    )
    assert native.status_code == 201, native.text
    callers = [
        (await create(admin_api, admin, "lister", acl="list-accts"))["token"],
        (await create(admin_api, admin, "creator", acl="create-acct"))["token"],
        native.json()["token"],
    ]
    before = await stored_keys(runtime, admin.user.id)
    for token in callers:
        headers = whm_token("root", token)
        proofs: list[dict[str, Any]] = [{}, {"password": admin.password}]
        for proof in proofs:
            attempts: dict[str, dict[str, Any]] = {
                "api_token_create": {"token_name": "more"},
                "api_token_update": {"token_name": "target", "new_name": "renamed"},
                "api_token_revoke": {"token_name": "target"},
            }
            for function, params in attempts.items():
                refused(await call(admin_api, function, headers, **params, **proof), function)
    assert await stored_keys(runtime, admin.user.id) == before


@pytest.fixture
async def scoped_token(admin_api: Api, admin: Account) -> dict[str, str]:
    """WHM headers of a key made natively that may manage keys (account:write) and read accounts (admin:read)."""
    await admin_api.login(admin)
    response = await admin_api.post(
        "/api/v1/account/api-keys", json={"description": "scoped", "scopes": ["account:write", "admin:read"]}
    )
    assert response.status_code == 201, response.text
    return whm_token("root", response.json()["token"])


async def test_a_token_creates_tokens_with_acls_within_its_scopes(admin_api: Api, scoped_token: dict[str, str]) -> None:
    for name, acl in (("lister", "list-accts"), ("summary", "acct-summary")):
        made = await call(admin_api, "api_token_create", scoped_token, token_name=name, acl=acl)
        assert envelope(made, "api_token_create")["data"]["acls"] == ["acct-summary", "list-accts"]


@pytest.mark.parametrize(
    "acl",
    [{"acl": "create-acct"}, {"acl": "ssl-info"}, {"acl-0": "list-accts", "acl-1": "edit-dns"}, {"acl": "all"}, {}],
    ids=["write-where-it-reads", "another-area", "one-of-two-beyond", "all", "none-given"],
)
async def test_a_token_cannot_create_a_token_with_acls_beyond_its_scopes(
    runtime: Runtime, admin_api: Api, admin: Account, scoped_token: dict[str, str], acl: dict[str, Any]
) -> None:
    before = await stored_keys(runtime, admin.user.id)
    refused(await call(admin_api, "api_token_create", scoped_token, token_name="wider", **acl), "api_token_create")
    assert await stored_keys(runtime, admin.user.id) == before


async def test_a_token_cannot_update_a_token_to_acls_beyond_its_scopes(
    runtime: Runtime, admin_api: Api, admin: Account, scoped_token: dict[str, str]
) -> None:
    made = await call(admin_api, "api_token_create", scoped_token, token_name="child", acl="list-accts")
    envelope(made, "api_token_create")
    before = await stored_keys(runtime, admin.user.id)
    for acl in ("create-acct", "all"):
        response = await call(admin_api, "api_token_update", scoped_token, token_name="child", acl=acl)
        refused(response, "api_token_update")
    itself = await call(admin_api, "api_token_update", scoped_token, token_name="scoped", acl="all")
    refused(itself, "api_token_update")
    assert await stored_keys(runtime, admin.user.id) == before


@pytest.fixture
async def limited_token(admin_api: Api, admin: Account) -> tuple[dict[str, str], str]:
    """WHM headers of a token with every ACL, limited to 203.0.113.0/24 (the test client's address is 203.0.113.7)
    and expiring in 10 days; and its identifier."""
    data = await create(
        admin_api, admin, "limited", **{"whitelist_ip-0": "203.0.113.0/24"}, expires_at=epoch_in_days(10)
    )
    return whm_token("root", data["token"]), identifier_of(data["token"])


async def test_a_limited_token_creates_a_token_within_its_addresses_and_expiry(
    admin_api: Api, limited_token: tuple[dict[str, str], str]
) -> None:
    headers, _ = limited_token
    sooner = epoch_in_days(5)
    response = await call(
        admin_api, "api_token_create", headers, token_name="inner", whitelist_ip="203.0.113.7/32", expires_at=sooner
    )
    data = envelope(response, "api_token_create")["data"]
    assert (data["whitelist_ips"], data["expires_at"]) == (["203.0.113.7/32"], int(sooner))


@pytest.mark.parametrize(
    "beyond",
    [
        {"whitelist_ip": "198.51.100.0/24"},
        {},
        {"whitelist_ip": "any"},
        {"whitelist_ip-0": "203.0.113.7", "whitelist_ip-1": "198.51.100.7"},
    ],
    ids=["elsewhere", "unlimited", "any", "one-of-two-outside"],
)
async def test_a_limited_token_cannot_create_a_token_beyond_its_addresses(
    runtime: Runtime, admin_api: Api, admin: Account, limited_token: tuple[dict[str, str], str], beyond: dict[str, Any]
) -> None:
    headers, _ = limited_token
    before = await stored_keys(runtime, admin.user.id)
    response = await call(
        admin_api, "api_token_create", headers, token_name="outside", expires_at=epoch_in_days(5), **beyond
    )
    refused(response, "api_token_create")
    assert await stored_keys(runtime, admin.user.id) == before


@pytest.mark.parametrize(
    "expiry", [{"expires_at": epoch_in_days(20)}, {"expires_at": "0"}, {}], ids=["later", "never", "left-out"]
)
async def test_an_expiring_token_cannot_create_a_token_that_outlives_it(
    runtime: Runtime, admin_api: Api, admin: Account, limited_token: tuple[dict[str, str], str], expiry: dict[str, Any]
) -> None:
    headers, _ = limited_token
    before = await stored_keys(runtime, admin.user.id)
    response = await call(
        admin_api, "api_token_create", headers, token_name="longer", whitelist_ip="203.0.113.7", **expiry
    )
    refused(response, "api_token_create")
    assert await stored_keys(runtime, admin.user.id) == before


async def test_a_limited_token_narrows_a_token_but_never_widens_one(
    runtime: Runtime, admin_api: Api, admin: Account, limited_token: tuple[dict[str, str], str]
) -> None:
    headers, _ = limited_token
    child: dict[str, Any] = {"token_name": "child", "whitelist_ip": "203.0.113.7", "expires_at": epoch_in_days(5)}
    envelope(await call(admin_api, "api_token_create", headers, **child), "api_token_create")
    sooner = epoch_in_days(3)
    narrowed = await call(admin_api, "api_token_update", headers, token_name="child", expires_at=sooner)
    assert envelope(narrowed, "api_token_update")["data"]["expires_at"] == int(sooner)
    before = await stored_keys(runtime, admin.user.id)
    widenings: list[dict[str, Any]] = [
        {"whitelist_ip": "any"},
        {"whitelist_ip": "198.51.100.0/24"},
        {"expires_at": "0"},
        {"expires_at": epoch_in_days(20)},
    ]
    for name in ("child", "limited"):  # another token, and itself
        for widening in widenings:
            response = await call(admin_api, "api_token_update", headers, token_name=name, **widening)
            refused(response, "api_token_update")
    assert await stored_keys(runtime, admin.user.id) == before


async def test_a_limited_token_cannot_update_a_wider_token_but_may_revoke_it(
    runtime: Runtime, admin_api: Api, admin: Account, limited_token: tuple[dict[str, str], str]
) -> None:
    """Whatever an update leaves must be within the caller's rights, so a token wider than the caller cannot be
    changed by it (not even renamed); revoking takes rights away from nobody."""
    headers, identifier = limited_token
    wide = (await create(admin_api, admin, "wide"))["token"]
    before = await stored_keys(runtime, admin.user.id)
    response = await call(admin_api, "api_token_update", headers, token_name="wide", new_name="renamed")
    refused(response, "api_token_update")
    assert await stored_keys(runtime, admin.user.id) == before
    envelope(await call(admin_api, "api_token_revoke", headers, token_name="wide"), "api_token_revoke")
    assert (await admin_api.get("/api/v1/account", token=wide)).status_code == 401
    [entry] = await activity_events(runtime, admin.user.id, "account.api_key.deleted")
    assert (entry.api_key, entry.properties) == (identifier, {"identifier": identifier_of(wide)})


async def _token_changes(api: Api, headers: dict[str, str]) -> list[Any]:
    return [
        await call(api, "api_token_create", headers, token_name="more"),
        await call(api, "api_token_update", headers, token_name="other", new_name="renamed"),
        await call(api, "api_token_revoke", headers, token_name="other"),
    ]


async def test_an_expired_token_is_refused_as_before(runtime: Runtime, admin_api: Api, admin: Account) -> None:
    token = (await create(admin_api, admin, "old", expires_at=epoch_in_days(10)))["token"]
    await create(admin_api, admin, "other")
    async with runtime.writing(changes_user=admin.user.id) as db:
        await db.execute(
            update(ApiKey)
            .where(ApiKey.identifier == identifier_of(token))
            .values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1))
        )
    before = await stored_keys(runtime, admin.user.id)
    for response in await _token_changes(admin_api, whm_token("root", token)):
        assert_access_denied(response)
    assert await stored_keys(runtime, admin.user.id) == before


async def test_a_revoked_token_is_refused_as_before(runtime: Runtime, admin_api: Api, admin: Account) -> None:
    token = (await create(admin_api, admin, "gone"))["token"]
    await create(admin_api, admin, "other")
    envelope(await call(admin_api, "api_token_revoke", basic(admin), token_name="gone"), "api_token_revoke")
    before = await stored_keys(runtime, admin.user.id)
    for response in await _token_changes(admin_api, whm_token("root", token)):
        assert_access_denied(response)
    assert await stored_keys(runtime, admin.user.id) == before


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
