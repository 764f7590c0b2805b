"""The activity log (one's own, filtered and paged, newest first) and the admin's user management and
activity view on the admin port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hostplane.activity.events import Event
from hostplane.auth.principal import Client, Principal
from hostplane.profile.service import AccountService
from hostplane.runtime import Runtime
from tests.conftest import PASSWORD, Account, Api

ACTIVITY = "/api/v1/account/activity"
USERS = "/api/v1/admin/users"


async def activity(api: Api, url: str = ACTIVITY, **params: Any) -> dict[str, Any]:
    response = await api.get(url, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def fail_login(api: Api, username: str) -> None:
    response = await api.post("/api/v1/auth/login", json={"username": username, "password": "wrong-password"})
    assert response.status_code == 401


# --- one's own activity ------------------------------------------------------------------------------


async def test_the_activity_filters_by_exact_event(user_api: Api, alice: Account) -> None:
    await fail_login(user_api, "alice")
    for _ in range(3):
        await user_api.login(alice)
    page = await activity(user_api, event="auth.login.success")
    assert page["total"] == 3
    assert {entry["event"] for entry in page["data"]} == {"auth.login.success"}
    assert all(entry["properties"] == {"method": "password"} for entry in page["data"])
    failed = await activity(user_api, event="auth.login.failed")
    assert failed["total"] == 1
    assert failed["data"][0]["properties"] == {"username": "alice", "reason": "bad_credentials"}
    assert failed["data"][0]["actor_id"] is None


async def test_the_activity_filters_by_prefix(user_api: Api, alice: Account) -> None:
    await fail_login(user_api, "alice")
    await user_api.login(alice)
    await user_api.patch("/api/v1/account", json={"first_name": "Alice"})
    await user_api.put("/api/v1/account/email", json={"email": "alice@example.org", "password": alice.password})
    auth = await activity(user_api, event="auth.*")
    assert [entry["event"] for entry in auth["data"]] == ["auth.login.success", "auth.login.failed"]
    account = await activity(user_api, event="account.*")
    assert [entry["event"] for entry in account["data"]] == ["account.email.changed"]
    everything = await activity(user_api)
    assert "admin.user.created" in {entry["event"] for entry in everything["data"]}
    assert everything["total"] == 4


async def test_the_prefix_filter_treats_underscores_literally(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    assert (await activity(user_api, event="a_th.*"))["total"] == 0
    assert (await activity(user_api, event="auth.login_*"))["total"] == 0
    assert (await activity(user_api, event="auth.login.*"))["total"] == 1


async def test_an_exact_filter_does_not_match_prefixes(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    assert (await activity(user_api, event="auth.login"))["total"] == 0
    assert (await activity(user_api, event="auth"))["total"] == 0


@pytest.mark.parametrize("event", ["auth%", "auth.*.*x", "AUTH.*", "*", "auth login", "a" * 65])
async def test_a_malformed_event_filter_is_422(user_api: Api, alice: Account, event: str) -> None:
    await user_api.login(alice)
    response = await user_api.get(ACTIVITY, params={"event": event})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_activity_is_paged_newest_first(user_api: Api, alice: Account) -> None:
    for _ in range(7):
        await user_api.login(alice)
    pages = [await activity(user_api, event="auth.*", per_page=3, page=number) for number in (1, 2, 3, 4)]
    assert [(p["page"], p["per_page"], p["total"], p["total_pages"]) for p in pages] == [
        (1, 3, 7, 3),
        (2, 3, 7, 3),
        (3, 3, 7, 3),
        (4, 3, 7, 3),
    ]
    assert [len(p["data"]) for p in pages] == [3, 3, 1, 0]
    ids = [entry["id"] for p in pages for entry in p["data"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 7
    times = [entry["created_at"] for p in pages for entry in p["data"]]
    assert times == sorted(times, reverse=True)


async def test_an_empty_activity_has_one_page(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    page = await activity(user_api, event="account.2fa.enabled")
    assert (page["data"], page["total"], page["total_pages"], page["page"]) == ([], 0, 1, 1)


@pytest.mark.parametrize(("name", "value"), [("page", 0), ("per_page", 0), ("per_page", 101), ("page", "x")])
async def test_bad_paging_is_422(user_api: Api, alice: Account, name: str, value: Any) -> None:
    await user_api.login(alice)
    response = await user_api.get(ACTIVITY, params={name: value})
    assert response.status_code == 422


async def test_a_user_sees_only_their_own_activity(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob: Account = await make_account("bob")
    await fail_login(user_api, "bob")
    bob_api = user_api.from_peer("198.51.100.9")
    await bob_api.login(bob)
    await user_api.login(alice)
    own = await activity(user_api)
    assert own["total"] == len(own["data"]) == 2
    assert {entry["user_id"] for entry in own["data"]} == {alice.user.id}
    bobs = await activity(bob_api)
    assert {entry["user_id"] for entry in bobs["data"]} == {bob.user.id}
    assert bobs["total"] == 3
    await bob_api.aclose()


async def test_activity_entries_carry_address_and_api_key(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    created = await user_api.post("/api/v1/account/api-keys", json={"description": "ci"})
    assert created.status_code == 201
    key = created.json()
    by_key = user_api.from_peer("192.0.2.50")
    await by_key.patch("/api/v1/account", token=key["token"], json={"first_name": "A"})
    email = await by_key.put(
        "/api/v1/account/email", token=key["token"], json={"email": "a@example.org", "password": alice.password}
    )
    assert email.status_code == 204, email.text
    [entry] = (await activity(user_api, event="account.email.changed"))["data"]
    assert (entry["ip"], entry["api_key"], entry["via_api_key"]) == ("192.0.2.50", key["identifier"], True)
    [created_entry] = (await activity(user_api, event="account.api_key.created"))["data"]
    assert (created_entry["ip"], created_entry["via_api_key"]) == ("203.0.113.7", False)
    assert key["token"] not in (await user_api.get(ACTIVITY)).text
    await by_key.aclose()


# --- admin: users ------------------------------------------------------------------------------------


def new_user(username: str = "bob", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    body.update(overrides)
    return body


async def test_an_admin_creates_a_user(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    response = await admin_api.post(
        USERS, json=new_user("Bob", first_name="Bob", last_name="Builder", language="de", email="Bob@Example.com")
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert (user["username"], user["email"], user["role"]) == ("bob", "bob@example.com", "user")
    assert (user["first_name"], user["last_name"], user["language"]) == ("Bob", "Builder", "de")
    assert (user["disabled"], user["two_factor_enabled"]) == (False, False)
    assert PASSWORD not in response.text
    assert not [key for key in user if "password" in key]
    login = await admin_api.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD})
    assert login.status_code == 200


async def test_an_admin_creates_another_admin(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    response = await admin_api.post(USERS, json=new_user("ops", role="admin"))
    assert response.status_code == 201
    assert response.json()["role"] == "admin"
    bad_role = await admin_api.post(USERS, json=new_user("eve", role="superuser"))
    assert bad_role.status_code == 422


@pytest.mark.parametrize(
    "duplicate", [new_user("bob", email="other@example.com"), new_user("bobby", email="BOB@example.com")]
)
async def test_a_duplicate_username_or_email_is_409(admin_api: Api, admin: Account, duplicate: dict[str, Any]) -> None:
    await admin_api.login(admin)
    assert (await admin_api.post(USERS, json=new_user("bob"))).status_code == 201
    response = await admin_api.post(USERS, json=duplicate)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert [user["username"] for user in (await admin_api.get(USERS)).json()] == ["root", "bob"]


@pytest.mark.parametrize("password", ["password", "short1!", "bobbob", "bob"])
async def test_a_weak_password_for_a_new_user_is_422(admin_api: Api, admin: Account, password: str) -> None:
    await admin_api.login(admin)
    response = await admin_api.post(USERS, json=new_user("bob", password=password))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "password"
    assert len((await admin_api.get(USERS)).json()) == 1


@pytest.mark.parametrize("username", ["ab", "1bob", "bob smith", "bob@example", "b" * 33, "böb", "root;id"])
async def test_a_bad_username_is_422(admin_api: Api, admin: Account, username: str) -> None:
    await admin_api.login(admin)
    response = await admin_api.post(USERS, json=new_user("bob") | {"username": username})
    assert response.status_code == 422, username
    assert len((await admin_api.get(USERS)).json()) == 1


async def test_an_admin_lists_and_gets_users(admin_api: Api, admin: Account, alice: Account) -> None:
    await admin_api.login(admin)
    listed = await admin_api.get(USERS)
    assert listed.status_code == 200
    assert [(user["id"], user["username"]) for user in listed.json()] == [
        (admin.user.id, "root"),
        (alice.user.id, "alice"),
    ]
    one = await admin_api.get(f"{USERS}/{alice.user.id}")
    assert one.status_code == 200
    assert one.json()["email"] == "alice@example.com"
    missing = await admin_api.get(f"{USERS}/999999")
    assert missing.status_code == 404
    not_a_number = await admin_api.get(f"{USERS}/alice")
    assert not_a_number.status_code == 422


async def test_disabling_a_user_ends_their_sessions_and_logins_until_enabled(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    await user_api.login(alice)
    await admin_api.login(admin)
    disabled = await admin_api.post(f"{USERS}/{alice.user.id}/disable")
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    assert (await user_api.get("/api/v1/account")).status_code == 401
    login = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 401
    enabled = await admin_api.post(f"{USERS}/{alice.user.id}/enable")
    assert enabled.status_code == 200
    assert enabled.json()["disabled"] is False
    await user_api.login(alice)
    assert (await user_api.get("/api/v1/account")).status_code == 200


async def test_disabling_an_unknown_user_is_404(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    assert (await admin_api.post(f"{USERS}/999999/disable")).status_code == 404


async def test_an_admin_cannot_disable_themselves(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    response = await admin_api.post(f"{USERS}/{admin.user.id}/disable")
    assert response.status_code == 409
    assert (await admin_api.get(f"{USERS}/{admin.user.id}")).json()["disabled"] is False
    assert (await admin_api.get(USERS)).status_code == 200


async def test_setting_a_password_ends_the_users_sessions(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    await user_api.login(alice)
    await admin_api.login(admin)
    new_password = "Admin-chosen-passw0rd"
    response = await admin_api.put(f"{USERS}/{alice.user.id}/password", json={"password": new_password})
    assert response.status_code == 204, response.text
    assert (await user_api.get("/api/v1/account")).status_code == 401
    old = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    new = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": new_password})
    assert new.status_code == 200


async def test_setting_a_weak_password_is_422_and_changes_nothing(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    await user_api.login(alice)
    await admin_api.login(admin)
    response = await admin_api.put(f"{USERS}/{alice.user.id}/password", json={"password": "iloveyou"})
    assert response.status_code == 422
    assert (await user_api.get("/api/v1/account")).status_code == 200


async def test_resetting_two_factor_is_recorded(admin_api: Api, admin: Account, alice: Account) -> None:
    await admin_api.login(admin)
    response = await admin_api.post(f"{USERS}/{alice.user.id}/reset-two-factor")
    assert response.status_code == 204
    page = await activity(admin_api, "/api/v1/admin/activity", event="admin.user.2fa_reset")
    [entry] = page["data"]
    assert (entry["user_id"], entry["actor_id"]) == (alice.user.id, admin.user.id)


# --- admin: activity ---------------------------------------------------------------------------------


async def test_the_admin_activity_spans_users_and_filters_by_user(
    admin_api: Api, user_api: Api, admin: Account, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob: Account = await make_account("bob")
    await user_api.login(alice)
    bob_api = user_api.from_peer("198.51.100.9")
    await bob_api.login(bob)
    await bob_api.aclose()
    await admin_api.login(admin)
    await admin_api.post(f"{USERS}/{bob.user.id}/disable")

    everyone = await activity(admin_api, "/api/v1/admin/activity", event="auth.login.success")
    assert {entry["user_id"] for entry in everyone["data"]} == {alice.user.id, bob.user.id, admin.user.id}

    bobs = await activity(admin_api, "/api/v1/admin/activity", user_id=bob.user.id)
    assert {entry["user_id"] for entry in bobs["data"]} == {bob.user.id}
    assert [entry["event"] for entry in bobs["data"]] == [
        "admin.user.disabled",
        "auth.login.success",
        "admin.user.created",
    ]
    assert bobs["data"][0]["actor_id"] == admin.user.id

    paged = await activity(admin_api, "/api/v1/admin/activity", per_page=2, page=2)
    assert paged["total"] == (await activity(admin_api, "/api/v1/admin/activity"))["total"]
    assert len(paged["data"]) == 2


async def test_the_admin_activity_rejects_a_bad_user_filter(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    assert (await admin_api.get("/api/v1/admin/activity", params={"user_id": 0})).status_code == 422
    assert (await admin_api.get("/api/v1/admin/activity", params={"user_id": "x"})).status_code == 422


async def test_the_own_activity_ignores_a_user_filter(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob: Account = await make_account("bob")
    await user_api.login(alice)
    response = await user_api.get(ACTIVITY, params={"user_id": bob.user.id})
    assert response.status_code == 200
    assert {entry["user_id"] for entry in response.json()["data"]} == {alice.user.id}


# --- the account service's own activity query (what dialects build on) --------------------------------


async def test_the_service_filters_by_a_set_of_events_and_orders_either_way(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await fail_login(user_api, "alice")
    await user_api.login(alice)
    await user_api.login(alice)
    principal = Principal(user=alice.user, client=Client(ip="192.0.2.1"))
    service = AccountService(runtime)
    wanted = {Event.LOGIN_OK, Event.LOGIN_FAILED}
    newest = await service.activity(principal, events=wanted, page=1, per_page=10)
    oldest = await service.activity(principal, events=wanted, page=1, per_page=10, newest_first=False)
    assert newest.total == oldest.total == 3
    assert [entry.event for entry in oldest.entries] == [Event.LOGIN_FAILED, Event.LOGIN_OK, Event.LOGIN_OK]
    assert [entry.id for entry in newest.entries] == [entry.id for entry in reversed(oldest.entries)]
    nothing = await service.activity(principal, events=set(), page=1, per_page=10)
    assert (nothing.total, nothing.entries) == (0, [])
    everything = await service.activity(principal, page=1, per_page=10)
    assert everything.total == 4  # with the account's creation
