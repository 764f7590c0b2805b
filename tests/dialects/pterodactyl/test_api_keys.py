"""API keys through Pterodactyl's routes: the core's limits and validation in Pterodactyl's words, the secret shown
once, the address allow-list enforced on every API (with an activity entry), and the core's rights rule: a client
key manages the account's keys without the password, but never makes a key that holds more than itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update

from hostplane.activity.events import Event
from hostplane.auth import totp
from hostplane.auth.models import ApiKey
from hostplane.runtime import Runtime
from tests.api.test_api_keys import in_days, stored_keys
from tests.conftest import PEER, Account, Api, activity_events
from tests.dialects.pterodactyl.conftest import KeyedClient
from tests.dialects.pterodactyl.ptero import (
    create_key,
    ed25519_key,
    error_of,
    items,
    resource,
    send,
    validation_errors,
)

PTERODACTYL_VALID_IPS = [
    [],
    ["127.0.0.1"],
    ["127.0.0.1", "::1"],
    ["127.0.0.1", "192.168.1.100", "192.168.10.10/28"],
    ["127.0.0.1/32", "192.168.100.100/27", "::1", "::1/128"],
]


@pytest.mark.parametrize("allowed_ips", PTERODACTYL_VALID_IPS)
async def test_the_address_lists_pterodactyl_accepts_are_accepted(
    user_api: Api, alice: Account, allowed_ips: list[str]
) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, allowed_ips=allowed_ips)
    assert len(created["attributes"]["allowed_ips"]) == len(allowed_ips)


async def test_an_ipv4_mapped_address_is_kept_as_the_ipv4_address_it_matches(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, allowed_ips=["::ffff:7f00:1"])
    assert created["attributes"]["allowed_ips"] == ["127.0.0.1"]
    local = user_api.from_peer("127.0.0.1")
    assert (await send(local, "GET", "", token=created["meta"]["secret_token"])).status_code == 200
    mapped_peer = user_api.from_peer("::ffff:127.0.0.1")
    assert (await send(mapped_peer, "GET", "", token=created["meta"]["secret_token"])).status_code == 200


async def test_allowed_ips_may_be_left_out_or_null(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    for body in ({"description": "a"}, {"description": "b", "allowed_ips": None}):
        assert resource(await send(user_api, "POST", "/api-keys", body), "api_key")["allowed_ips"] == []


async def test_every_bad_address_is_named_by_its_position(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(
        user_api, "POST", "/api-keys", {"description": "Foobar", "allowed_ips": ["hodor", "127.0.0.1", "hodor/24"]}
    )
    assert validation_errors(response) == [
        ("allowed_ips.0", "ip", '"hodor" is not a valid IP address or CIDR range.'),
        ("allowed_ips.2", "ip", '"hodor/24" is not a valid IP address or CIDR range.'),
    ]
    assert items(await send(user_api, "GET", "/api-keys"), "api_key") == []


@pytest.mark.parametrize("bad", ["10.0.0.256", "10.0.0.0/33", "2001:db8::/129", "10.0.0", "", "1.2.3.4/8/8", 7])
async def test_a_bad_address_is_refused(user_api: Api, alice: Account, bad: Any) -> None:
    await user_api.login(alice)
    response = await send(user_api, "POST", "/api-keys", {"description": "x", "allowed_ips": ["192.0.2.1", bad]})
    [(field, _rule, _detail)] = validation_errors(response)
    assert field == "allowed_ips.1"


async def test_more_than_50_addresses_are_refused_as_pterodactyl_words_it(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    ips = [f"127.0.0.{n}" for n in range(100)]
    response = await send(user_api, "POST", "/api-keys", {"description": "Test Data", "allowed_ips": ips})
    assert validation_errors(response) == [("allowed_ips", "max", "The allowed ips may not have more than 50 items.")]
    assert len((await create_key(user_api, allowed_ips=ips[:50]))["attributes"]["allowed_ips"]) == 50


async def test_a_description_over_500_characters_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "POST", "/api-keys", {"description": "a" * 501, "allowed_ips": ["127.0.0.1"]})
    assert validation_errors(response) == [
        ("description", "max", "The description may not be greater than 500 characters.")
    ]
    await create_key(user_api, description="a" * 500)


async def test_the_26th_key_is_refused_with_a_display_exception(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    for number in range(25):
        await create_key(user_api, description=f"key {number}")
    response = await send(user_api, "POST", "/api-keys", {"description": "one too many", "allowed_ips": []})
    error = error_of(response, 400, "DisplayException")
    assert "account limit" in error["detail"]
    assert len(items(await send(user_api, "GET", "/api-keys"), "api_key")) == 25


async def test_deleting_an_unknown_or_foreign_key_is_404(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob: Account = await make_account("bob")
    bob_api = user_api.from_peer("198.51.100.9")
    await bob_api.login(bob)
    bobs = (await create_key(bob_api))["attributes"]["identifier"]
    await user_api.login(alice)
    for identifier in ("1234", bobs):
        error_of(await send(user_api, "DELETE", f"/api-keys/{identifier}"), 404, "NotFoundHttpException")
    assert [key["identifier"] for key in items(await send(bob_api, "GET", "/api-keys"), "api_key")] == [bobs]
    await bob_api.aclose()


async def test_a_deleted_key_no_longer_authenticates(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    created = await create_key(user_api)
    keyed = user_api.from_peer("203.0.113.7")
    keyed.token = created["meta"]["secret_token"]
    assert (await send(keyed, "GET", "")).status_code == 200
    await send(user_api, "DELETE", f"/api-keys/{created['attributes']['identifier']}")
    error_of(await send(keyed, "GET", ""), 401, "AuthenticationException")


async def test_an_api_key_manages_keys_without_the_password_but_not_with_a_wrong_one(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, identifier = await keyed()
    before = await stored_keys(runtime, alice.user.id)
    wrong = await send(client, "POST", "/api-keys", {"description": "second", "password": "wrong-password-1"})
    error_of(wrong, 400, "InvalidPasswordProvidedException")
    assert await stored_keys(runtime, alice.user.id) == before
    created = await send(client, "POST", "/api-keys", {"description": "second"})
    made = resource(created, "api_key")["identifier"]
    assert (await send(user_api, "GET", "", token=created.json()["meta"]["secret_token"])).status_code == 200
    deleted = await send(client, "DELETE", f"/api-keys/{made}")
    assert deleted.status_code == 204
    assert [key["identifier"] for key in items(await send(user_api, "GET", "/api-keys"), "api_key")] == [identifier]

    for event in (Event.API_KEY_CREATED, Event.API_KEY_DELETED):
        entry = (await activity_events(runtime, alice.user.id, event))[-1]
        assert (entry.api_key, entry.properties) == (identifier, {"identifier": made})
    listed = items(await send(user_api, "GET", "/activity", params={"filter[event]": "user:api-key"}), "activity_log")
    assert [(entry["event"], entry["is_api"]) for entry in listed] == [
        ("user:api-key.delete", True),
        ("user:api-key.create", True),
        ("user:api-key.create", False),
    ]


async def test_a_key_limited_to_some_addresses_makes_keys_limited_within_them(keyed: KeyedClient) -> None:
    client, _ = await keyed(allowed_ips=["203.0.113.0/24"])
    created = await send(client, "POST", "/api-keys", {"description": "inside", "allowed_ips": ["203.0.113.7/32"]})
    assert resource(created, "api_key")["allowed_ips"] == ["203.0.113.7/32"]


@pytest.mark.parametrize(
    "body",
    [
        {"allowed_ips": ["198.51.100.0/24"]},
        {"allowed_ips": []},
        {"allowed_ips": None},
        {},
        {"allowed_ips": ["203.0.113.7", "198.51.100.7"]},
    ],
    ids=["elsewhere", "empty", "null", "left-out", "one-of-two-outside"],
)
async def test_a_key_limited_to_some_addresses_cannot_make_a_key_beyond_them(
    keyed: KeyedClient, alice: Account, runtime: Runtime, body: dict[str, Any]
) -> None:
    client, _ = await keyed(allowed_ips=["203.0.113.0/24"])
    before = await stored_keys(runtime, alice.user.id)
    refused = await send(client, "POST", "/api-keys", {"description": "outside", **body})
    error_of(refused, 403, "AccessDeniedHttpException")
    assert await stored_keys(runtime, alice.user.id) == before


@pytest.mark.parametrize(
    "fields",
    [{"scopes": ["account:write"]}, {"scopes": ["account:write", "domains:read"]}],
    ids=["account-only", "account-and-domains"],
)
async def test_a_key_with_scopes_cannot_make_a_key_here_where_keys_hold_every_scope(
    keyed: KeyedClient, alice: Account, runtime: Runtime, fields: dict[str, Any]
) -> None:
    """Pterodactyl's keys have no scopes: a key made here may do everything, more than a scoped key holds."""
    client, _ = await keyed(**fields)
    before = await stored_keys(runtime, alice.user.id)
    error_of(await send(client, "POST", "/api-keys", {"description": "wider"}), 403, "AccessDeniedHttpException")
    assert await stored_keys(runtime, alice.user.id) == before


async def test_an_expiring_key_cannot_make_a_key_here_where_keys_never_expire(
    keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, _ = await keyed(expires_at=in_days(10).isoformat())
    before = await stored_keys(runtime, alice.user.id)
    error_of(await send(client, "POST", "/api-keys", {"description": "longer"}), 403, "AccessDeniedHttpException")
    assert await stored_keys(runtime, alice.user.id) == before


async def test_a_limited_key_deletes_any_key_of_its_account(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, identifier = await keyed(
        scopes=["account:write"], allowed_ips=["203.0.113.0/24"], expires_at=in_days(10).isoformat()
    )
    other = await create_key(user_api, "unlimited")
    victim = other["attributes"]["identifier"]
    assert (await send(client, "DELETE", f"/api-keys/{victim}")).status_code == 204
    error_of(await send(user_api, "GET", "", token=other["meta"]["secret_token"]), 401, "AuthenticationException")
    [entry] = await activity_events(runtime, alice.user.id, Event.API_KEY_DELETED)
    assert (entry.api_key, entry.ip, entry.properties) == (identifier, PEER, {"identifier": victim})


async def test_a_read_only_key_can_do_none_of_it(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, _ = await keyed(scopes=["account:read"])
    other = (await create_key(user_api, "other"))["attributes"]["identifier"]
    fingerprint = resource(
        await send(user_api, "POST", "/ssh-keys", {"name": "laptop", "public_key": ed25519_key()}), "ssh_key"
    )["fingerprint"]
    keys_before = await stored_keys(runtime, alice.user.id)
    for proof in ({}, {"password": alice.password}):
        attempts = [
            await send(client, "POST", "/api-keys", {"description": "more", **proof}),
            await send(client, "DELETE", f"/api-keys/{other}", proof or None),
            await send(client, "POST", "/ssh-keys", {"name": "more", "public_key": ed25519_key(), **proof}),
            await send(client, "POST", "/ssh-keys/remove", {"fingerprint": fingerprint, **proof}),
        ]
        for response in attempts:
            error_of(response, 403, "AccessDeniedHttpException")
    assert await stored_keys(runtime, alice.user.id) == keys_before
    assert [key["fingerprint"] for key in items(await send(user_api, "GET", "/ssh-keys"), "ssh_key")] == [fingerprint]


async def _attempts(client: Api, other: str) -> list[Any]:
    return [
        await send(client, "POST", "/api-keys", {"description": "more"}),
        await send(client, "DELETE", f"/api-keys/{other}"),
        await send(client, "POST", "/ssh-keys", {"name": "more", "public_key": ed25519_key()}),
    ]


async def test_an_expired_key_is_refused_as_before(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, identifier = await keyed(expires_at=in_days(10).isoformat())
    other = (await create_key(user_api, "other"))["attributes"]["identifier"]
    async with runtime.writing() as db:
        await db.execute(
            update(ApiKey)
            .where(ApiKey.identifier == identifier)
            .values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1))
        )
    runtime.credentials.clear()  # the clock moved past the expiry: what the cache would see once its TTL ends
    before = await stored_keys(runtime, alice.user.id)
    for response in await _attempts(client, other):
        error_of(response, 401, "AuthenticationException")
    assert await stored_keys(runtime, alice.user.id) == before
    assert items(await send(user_api, "GET", "/ssh-keys"), "ssh_key") == []


async def test_a_deleted_key_is_refused_as_before(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, identifier = await keyed()
    other = (await create_key(user_api, "other"))["attributes"]["identifier"]
    assert (await send(user_api, "DELETE", f"/api-keys/{identifier}")).status_code == 204
    before = await stored_keys(runtime, alice.user.id)
    for response in await _attempts(client, other):
        error_of(response, 401, "AuthenticationException")
    assert await stored_keys(runtime, alice.user.id) == before
    assert items(await send(user_api, "GET", "/ssh-keys"), "ssh_key") == []


async def test_with_a_key_password_email_and_two_factor_still_need_the_password(
    user_api: Api, keyed: KeyedClient, alice: Account
) -> None:
    """Changing the password or the email, turning two-factor on (the only way to new recovery codes) or off (the
    last second factor): a key alone gets 422 (the password is required), a wrong password 400."""
    client, _ = await keyed()
    new = "An0ther-long-passphrase!"
    password = {"password": new, "password_confirmation": new}
    [(field, rule, _)] = validation_errors(await send(client, "PUT", "/password", password))
    assert (field, rule) == ("current_password", "required")
    wrong = await send(client, "PUT", "/password", {**password, "current_password": "wrong-password-1"})
    error_of(wrong, 400, "InvalidPasswordProvidedException")
    [(field, rule, _)] = validation_errors(await send(client, "PUT", "/email", {"email": "mallory@example.com"}))
    assert (field, rule) == ("password", "required")
    wrong = await send(client, "PUT", "/email", {"email": "mallory@example.com", "password": "wrong-password-1"})
    error_of(wrong, 400, "InvalidPasswordProvidedException")
    assert resource(await send(user_api, "GET", ""), "user")["email"] == "alice@example.com"

    secret = (await send(client, "GET", "/two-factor")).json()["data"]["secret"]
    code = totp.code_at(secret, totp.current_step(user_api.clock.now().timestamp()))
    [(field, rule, _)] = validation_errors(await send(client, "POST", "/two-factor", {"code": code}))
    assert (field, rule) == ("password", "required")
    wrong = await send(client, "POST", "/two-factor", {"code": code, "password": "wrong-password-1"})
    error_of(wrong, 400, "InvalidPasswordProvidedException")
    enabled = await send(client, "POST", "/two-factor", {"code": code, "password": alice.password})
    assert len(resource(enabled, "recovery_tokens")["tokens"]) == 10
    [(field, rule, _)] = validation_errors(await send(client, "POST", "/two-factor/disable", {}))
    assert (field, rule) == ("password", "required")
    assert (await send(client, "DELETE", "/two-factor")).status_code == 422
    wrong = await send(client, "POST", "/two-factor/disable", {"password": "wrong-password-1"})
    error_of(wrong, 400, "InvalidPasswordProvidedException")
    assert (await client.get("/api/v1/account/two-factor")).json()["enabled"] is True


async def test_a_key_from_a_disallowed_address_is_403_here_and_on_the_native_api_and_logged(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, allowed_ips=["10.0.0.0/8"])
    token, identifier = created["meta"]["secret_token"], created["attributes"]["identifier"]
    outside = user_api.from_peer("203.0.113.7")
    error_of(await send(outside, "GET", "", token=token), 403, "AccessDeniedHttpException")
    native = await outside.get("/api/v1/account", token=token)
    assert native.status_code == 403
    assert native.headers["content-type"].startswith("application/problem+json")
    inside = user_api.from_peer("10.1.2.3")
    assert resource(await send(inside, "GET", "", token=token), "user")["username"] == "alice"
    assert (await inside.get("/api/v1/account", token=token)).status_code == 200

    denied = await activity_events(runtime, alice.user.id, Event.API_KEY_DENIED_IP)
    assert [(entry.ip, entry.properties["identifier"]) for entry in denied] == [("203.0.113.7", identifier)] * 2
    listed = items(
        await send(user_api, "GET", "/activity", params={"filter[event]": "auth:ip-blocked"}), "activity_log"
    )
    assert len(listed) == 2
    assert {(entry["properties"]["identifier"], entry["ip"], entry["is_api"]) for entry in listed} == {
        (identifier, "203.0.113.7", True)
    }


async def test_a_key_made_here_is_seen_by_the_native_api(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, "from pterodactyl", ["192.0.2.0/24"])
    [native] = (await user_api.get("/api/v1/account/api-keys")).json()
    assert native["identifier"] == created["attributes"]["identifier"]
    assert native["description"] == "from pterodactyl"
    assert native["allowed_ips"] == ["192.0.2.0/24"]
    assert native["scopes"] == []
