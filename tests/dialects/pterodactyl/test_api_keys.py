"""API keys through Pterodactyl's routes: the core's limits and validation in Pterodactyl's words, the secret shown
once, the address allow-list enforced on every API (with an activity entry), and the core rule that an API key
alone never manages keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hostplane.activity.events import Event
from hostplane.runtime import Runtime
from tests.conftest import Account, Api, activity_events
from tests.dialects.pterodactyl.ptero import (
    create_key,
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


async def test_an_api_key_alone_cannot_manage_keys_but_can_with_the_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    keyed = user_api.from_peer("203.0.113.7")
    keyed.token = (await create_key(user_api))["meta"]["secret_token"]
    error_of(await send(keyed, "POST", "/api-keys", {"description": "escalate"}), 403, "AccessDeniedHttpException")
    created = await send(keyed, "POST", "/api-keys", {"description": "second", "password": alice.password})
    identifier = resource(created, "api_key")["identifier"]
    error_of(await send(keyed, "DELETE", f"/api-keys/{identifier}"), 403, "AccessDeniedHttpException")
    deleted = await send(keyed, "DELETE", f"/api-keys/{identifier}", {"password": alice.password})
    assert deleted.status_code == 204


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
