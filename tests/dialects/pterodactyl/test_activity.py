"""GET /api/client/account/activity: the core's activity log as Pterodactyl's activity_log resources, with its
event names, `filter[event]` (partial, case-insensitive, comma = any), `sort` (timestamp / -timestamp), and Laravel's
pagination (`page`, `per_page` 25 by default, at most 100)."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest

from hostplane.activity.events import Event
from hostplane.dialects.pterodactyl.shapes import CORE_EVENTS, pterodactyl_event
from tests.conftest import Account, Api
from tests.dialects.pterodactyl.ptero import ATOM, create_key, error_of, items, send, validation_errors

ENTRY_KEYS = {
    "id",
    "batch",
    "event",
    "is_api",
    "ip",
    "description",
    "properties",
    "has_additional_metadata",
    "timestamp",
}


async def fail_login(api: Api, username: str) -> None:
    response = await api.post("/api/v1/auth/login", json={"username": username, "password": "wrong-password"})
    assert response.status_code == 401


async def entries(api: Api, **params: Any) -> list[dict[str, Any]]:
    return items(await send(api, "GET", "/activity", params=params), "activity_log")


async def page_of(api: Api, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    response = await send(api, "GET", "/activity", params=params)
    found = items(response, "activity_log")
    return found, response.json()["meta"]["pagination"]


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


async def test_an_entry_has_pterodactyls_fields_and_types(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    [entry, *_] = await entries(user_api)
    assert set(entry) == ENTRY_KEYS
    assert re.fullmatch(r"[0-9a-f]{40}", entry["id"])
    assert entry["batch"] is None
    assert entry["description"] is None
    assert entry["event"] == "auth:success"
    assert entry["is_api"] is False
    assert entry["ip"] == "203.0.113.7"
    assert entry["properties"] == {"method": "password"}
    assert entry["has_additional_metadata"] is True
    assert ATOM.match(entry["timestamp"])


async def test_core_events_get_pterodactyls_names(user_api: Api, alice: Account) -> None:
    await fail_login(user_api, "alice")
    await user_api.login(alice)
    identifier = (await create_key(user_api))["attributes"]["identifier"]
    await send(user_api, "DELETE", f"/api-keys/{identifier}")
    await send(user_api, "PUT", "/email", {"email": "alice@example.org", "password": alice.password})
    found = await entries(user_api, sort="timestamp")
    assert [entry["event"] for entry in found] == [
        "admin:user.created",
        "auth:fail",
        "auth:success",
        "user:api-key.create",
        "user:api-key.delete",
        "user:account.email-changed",
    ]
    by_event = {entry["event"]: entry for entry in found}
    assert by_event["user:api-key.create"]["properties"] == {"identifier": identifier}
    assert by_event["user:api-key.create"]["has_additional_metadata"] is False
    assert by_event["user:account.email-changed"]["properties"] == {
        "old": "alice@example.com",
        "new": "alice@example.org",
    }
    assert by_event["user:account.email-changed"]["has_additional_metadata"] is False


def test_every_core_event_has_a_pterodactyl_style_name() -> None:
    assert {Event.API_KEY_CREATED, Event.LOGIN_OK, Event.API_KEY_DENIED_IP} <= CORE_EVENTS
    for event in CORE_EVENTS:
        assert re.fullmatch(r"[a-z0-9-]+:[a-z0-9.-]+", pterodactyl_event(event)), event
    assert pterodactyl_event(Event.TWOFA_ENABLED) == "user:two-factor.create"
    assert pterodactyl_event(Event.API_KEY_DENIED_IP) == "auth:ip-blocked"
    assert pterodactyl_event("domains.site.created") == "domains:site.created"
    assert pterodactyl_event("account.some_new.thing") == "user:some-new.thing"


async def test_the_address_is_shown_only_to_whoever_acted(user_api: Api, alice: Account) -> None:
    await fail_login(user_api.from_peer("198.51.100.66"), "alice")
    await user_api.login(alice)
    [failed] = await entries(user_api, **{"filter[event]": "auth:fail"})
    assert failed["ip"] is None
    [success] = await entries(user_api, **{"filter[event]": "auth:success"})
    assert success["ip"] == "203.0.113.7"


async def test_an_administrator_sees_every_address(user_api: Api, admin: Account) -> None:
    await fail_login(user_api.from_peer("198.51.100.66"), "root")
    await user_api.login(admin)
    [failed] = await entries(user_api, **{"filter[event]": "auth:fail"})
    assert failed["ip"] == "198.51.100.66"


async def test_entries_made_with_an_api_key_say_is_api(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    keyed = user_api.from_peer("203.0.113.7")
    keyed.token = (await create_key(user_api))["meta"]["secret_token"]
    await send(keyed, "PUT", "/email", {"email": "alice@example.org", "password": alice.password})
    [changed] = await entries(user_api, **{"filter[event]": "email-changed"})
    assert changed["is_api"] is True
    [created] = await entries(user_api, **{"filter[event]": "api-key.create"})
    assert created["is_api"] is False


async def test_the_event_filter_matches_a_part_ignoring_case_and_commas_mean_any(user_api: Api, alice: Account) -> None:
    await fail_login(user_api, "alice")
    await user_api.login(alice)
    identifier = (await create_key(user_api))["attributes"]["identifier"]
    await send(user_api, "DELETE", f"/api-keys/{identifier}")

    async def events(value: str) -> list[str]:
        return [entry["event"] for entry in await entries(user_api, **{"filter[event]": value})]

    assert await events("api-key") == ["user:api-key.delete", "user:api-key.create"]
    assert await events("AUTH:SUC") == ["auth:success"]
    assert await events("auth:fail,api-key.delete") == ["user:api-key.delete", "auth:fail"]
    assert await events("no-such-event") == []
    assert len(await events("")) == 5


async def test_the_default_order_is_newest_first_and_sort_timestamp_is_oldest_first(
    user_api: Api, alice: Account
) -> None:
    for _ in range(3):
        await user_api.login(alice)
    newest_first = await entries(user_api)
    assert newest_first == await entries(user_api, sort="-timestamp")
    assert await entries(user_api, sort="timestamp") == newest_first[::-1]
    stamps = [entry["timestamp"] for entry in newest_first]
    assert stamps == sorted(stamps, reverse=True)


async def test_an_unknown_sort_or_filter_is_400(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    sort = error_of(await send(user_api, "GET", "/activity", params={"sort": "ip"}), 400, "InvalidSortQuery")
    assert sort["detail"] == "Requested sort(s) `ip` is not allowed. Allowed sort(s) are `timestamp`."
    response = await send(user_api, "GET", "/activity", params={"filter[ip]": "1.2.3.4"})
    error = error_of(response, 400, "InvalidFilterQuery")
    assert error["detail"] == "Requested filter(s) `ip` are not allowed. Allowed filter(s) are `event`."


async def test_pages_carry_laravels_pagination_meta_and_links(user_api: Api, alice: Account) -> None:
    for _ in range(4):
        await user_api.login(alice)  # with the account's creation: 5 entries
    first, meta = await page_of(user_api, per_page=2, sort="timestamp")
    assert meta == {
        "total": 5,
        "count": 2,
        "per_page": 2,
        "current_page": 1,
        "total_pages": 3,
        "links": {"next": meta["links"]["next"]},
    }
    assert query_of(meta["links"]["next"]) == {"per_page": "2", "sort": "timestamp", "page": "2"}
    second, meta = await page_of(user_api, per_page=2, sort="timestamp", page=2)
    assert (meta["current_page"], meta["count"], set(meta["links"])) == (2, 2, {"previous", "next"})
    assert query_of(meta["links"]["previous"])["page"] == "1"
    third, meta = await page_of(user_api, per_page=2, sort="timestamp", page=3)
    assert (meta["count"], set(meta["links"])) == (1, {"previous"})
    ids = [entry["id"] for entry in first + second + third]
    assert len(set(ids)) == 5
    beyond, meta = await page_of(user_api, per_page=2, page=9)
    assert (beyond, meta["count"], meta["total"]) == ([], 0, 5)


async def test_per_page_defaults_to_25_and_is_capped_at_100(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    assert (await page_of(user_api))[1]["per_page"] == 25
    assert (await page_of(user_api, per_page=500))[1]["per_page"] == 100
    single, meta = await page_of(user_api)
    assert meta["links"] == {}
    assert meta["total_pages"] == 1
    assert len(single) == meta["count"] == meta["total"]


@pytest.mark.parametrize("page", ["0", "-3", "x", ""])
async def test_a_page_that_is_not_a_positive_integer_is_page_one(user_api: Api, alice: Account, page: str) -> None:
    await user_api.login(alice)
    assert (await page_of(user_api, page=page))[1]["current_page"] == 1


@pytest.mark.parametrize(("per_page", "rule"), [("0", "min"), ("x", "integer"), ("-1", "integer")])
async def test_a_bad_per_page_is_422(user_api: Api, alice: Account, per_page: str, rule: str) -> None:
    await user_api.login(alice)
    response = await send(user_api, "GET", "/activity", params={"per_page": per_page})
    [(field, found_rule, _detail)] = validation_errors(response)
    assert (field, found_rule) == ("per_page", rule)


async def test_a_user_sees_only_their_own_activity(user_api: Api, alice: Account, make_account: Any) -> None:
    bob: Account = await make_account("bob")
    bob_api = user_api.from_peer("198.51.100.9")
    await bob_api.login(bob)
    await bob_api.login(bob)
    await user_api.login(alice)
    assert len(await entries(user_api)) == 2
    assert len(await entries(bob_api)) == 3
    await bob_api.aclose()
