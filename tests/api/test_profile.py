"""The profile of one's own account: read it, change names and language, change the email (with the password)
and the password (current one, new one twice)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import PASSWORD, Account, Api

NEW_PASSWORD = "correct-Horse-battery-9"


async def account_of(api: Api) -> dict[str, Any]:
    response = await api.get("/api/v1/account")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def events_of(api: Api, event: str) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/account/activity", params={"event": event})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["data"]
    return entries


async def test_the_account_shows_the_profile_and_no_secret(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    account = await account_of(user_api)
    assert account["id"] == alice.user.id
    assert account["username"] == "alice"
    assert account["email"] == "alice@example.com"
    assert account["role"] == "user"
    assert account["language"] == "en"
    assert account["disabled"] is False
    assert account["two_factor_enabled"] is False
    assert account["last_login_ip"] == "203.0.113.7"
    assert not {key for key in account if "password" in key or "secret" in key or "hash" in key}


async def test_names_and_language_can_be_changed(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.patch(
        "/api/v1/account", json={"first_name": "  Alice ", "last_name": "Liddell", "language": "pt-BR"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "Alice"
    account = await account_of(user_api)
    assert (account["first_name"], account["last_name"], account["language"]) == ("Alice", "Liddell", "pt-BR")


async def test_a_partial_update_leaves_the_other_fields_alone(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await user_api.patch("/api/v1/account", json={"first_name": "Alice", "last_name": "Liddell"})
    response = await user_api.patch("/api/v1/account", json={"language": "de"})
    assert response.status_code == 200
    account = await account_of(user_api)
    assert (account["first_name"], account["last_name"], account["language"]) == ("Alice", "Liddell", "de")


@pytest.mark.parametrize("language", ["english", "e", "EN", "en_US", "de-", "", "en-toolonglanguage"])
async def test_a_bad_language_is_422_and_changes_nothing(user_api: Api, alice: Account, language: str) -> None:
    await user_api.login(alice)
    before = await account_of(user_api)
    response = await user_api.patch("/api/v1/account", json={"first_name": "Changed", "language": language})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "language"
    assert await account_of(user_api) == before


async def test_the_profile_update_cannot_touch_role_username_or_email(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    before = await account_of(user_api)
    for field, value in (("role", "admin"), ("username", "root"), ("email", "x@example.com"), ("disabled", True)):
        response = await user_api.patch("/api/v1/account", json={field: value})
        assert response.status_code == 422, field
    assert await account_of(user_api) == before


# --- email -------------------------------------------------------------------------------------------


async def test_the_email_changes_with_the_right_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.put(
        "/api/v1/account/email", json={"email": "Alice.L@Example.ORG", "password": alice.password}
    )
    assert response.status_code == 204, response.text
    assert (await account_of(user_api))["email"] == "alice.l@example.org"


async def test_the_email_does_not_change_with_a_wrong_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.put("/api/v1/account/email", json={"email": "new@example.org", "password": "wrong-pass"})
    assert response.status_code == 400
    assert response.json()["code"] == "incorrect_password"
    assert (await account_of(user_api))["email"] == "alice@example.com"
    assert await events_of(user_api, "account.email.changed") == []
    assert len(await events_of(user_api, "account.password.check_failed")) == 1


async def test_the_email_change_needs_a_password_at_all(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    missing = await user_api.put("/api/v1/account/email", json={"email": "new@example.org"})
    assert missing.status_code == 422
    empty = await user_api.put("/api/v1/account/email", json={"email": "new@example.org", "password": ""})
    assert empty.status_code == 422
    assert (await account_of(user_api))["email"] == "alice@example.com"


async def test_an_email_of_another_account_is_refused(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    await make_account("bob")
    await user_api.login(alice)
    for taken in ("bob@example.com", "BOB@example.com"):
        response = await user_api.put("/api/v1/account/email", json={"email": taken, "password": alice.password})
        assert response.status_code == 422, taken
        assert response.json()["errors"][0] == {
            "field": "email",
            "message": "The email has already been taken.",
            "rule": "unique",
        }
    assert (await account_of(user_api))["email"] == "alice@example.com"


async def test_keeping_ones_own_email_is_allowed(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.put(
        "/api/v1/account/email", json={"email": "alice@example.com", "password": alice.password}
    )
    assert response.status_code == 204


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "alice@",
        "@example.com",
        "alice@localhost",
        "alice@@example.com",
        "alice@exa mple.com",
        "alice@-example.com",
        "alice@example.123",
        "a" * 65 + "@example.com",
        "alice@" + "a" * 250 + ".com",
        "",
    ],
)
async def test_a_bad_email_is_422_and_changes_nothing(user_api: Api, alice: Account, email: str) -> None:
    await user_api.login(alice)
    response = await user_api.put("/api/v1/account/email", json={"email": email, "password": alice.password})
    assert response.status_code == 422, email
    assert (await account_of(user_api))["email"] == "alice@example.com"


async def test_an_email_change_is_recorded_without_the_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await user_api.put("/api/v1/account/email", json={"email": "new@example.org", "password": alice.password})
    [entry] = await events_of(user_api, "account.email.changed")
    assert entry["user_id"] == alice.user.id
    assert entry["actor_id"] == alice.user.id
    assert entry["ip"] == "203.0.113.7"
    assert entry["via_api_key"] is False
    assert entry["properties"] == {"old": "alice@example.com", "new": "new@example.org"}
    everything = await user_api.get("/api/v1/account/activity")
    assert alice.password not in everything.text


# --- password ----------------------------------------------------------------------------------------


def password_change(current: str, new: str, confirmation: str | None = None) -> dict[str, str]:
    return {
        "current_password": current,
        "password": new,
        "password_confirmation": new if confirmation is None else confirmation,
    }


async def assert_password_unchanged(api: Api, account: Account) -> None:
    check = await api.post("/api/v1/auth/login", json={"username": account.username, "password": account.password})
    assert check.status_code == 200


async def test_a_confirmation_that_does_not_match_is_422(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.put(
        "/api/v1/account/password", json=password_change(alice.password, NEW_PASSWORD, NEW_PASSWORD + "x")
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "password_confirmation"
    await assert_password_unchanged(user_api, alice)


@pytest.mark.parametrize("common", ["password", "Password1", "iloveyou", "qwertyuiop", "12345678", "Trustno1"])
async def test_a_common_password_is_422(user_api: Api, alice: Account, common: str) -> None:
    await user_api.login(alice)
    response = await user_api.put("/api/v1/account/password", json=password_change(alice.password, common))
    assert response.status_code == 422, common
    assert response.json()["errors"][0]["rule"] == "uncompromised"
    await assert_password_unchanged(user_api, alice)


async def test_the_username_as_password_is_422(user_api: Api, make_account: Callable[..., Any]) -> None:
    account: Account = await make_account("longusername")
    await user_api.login(account)
    response = await user_api.put("/api/v1/account/password", json=password_change(account.password, "LongUserName"))
    assert response.status_code == 422


@pytest.mark.parametrize("short", ["Ab1!xyz", "a", "       "])
async def test_a_password_under_eight_characters_is_422(user_api: Api, alice: Account, short: str) -> None:
    await user_api.login(alice)
    response = await user_api.put("/api/v1/account/password", json=password_change(alice.password, short))
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "min"
    await assert_password_unchanged(user_api, alice)


async def test_a_long_password_is_kept_whole(user_api: Api, alice: Account) -> None:
    long_password = "x7-" * 40
    await user_api.login(alice)
    response = await user_api.put("/api/v1/account/password", json=password_change(alice.password, long_password))
    assert response.status_code == 204, response.text
    truncated = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": long_password[:72]})
    assert truncated.status_code == 401
    whole = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": long_password})
    assert whole.status_code == 200


async def test_a_wrong_current_password_is_400_and_changes_nothing(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.put("/api/v1/account/password", json=password_change("not-my-password", NEW_PASSWORD))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "incorrect_password"
    assert "not-my-password" not in response.text
    await assert_password_unchanged(user_api, alice)
    assert await events_of(user_api, "account.password.changed") == []


async def test_after_a_password_change_the_new_password_logs_in_and_the_old_does_not(
    user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    response = await user_api.put("/api/v1/account/password", json=password_change(alice.password, NEW_PASSWORD))
    assert response.status_code == 204, response.text
    old = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    new = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert new.status_code == 200


async def test_a_password_change_keeps_this_session_and_ends_the_others(user_api: Api, alice: Account) -> None:
    other = user_api.from_peer("198.51.100.4")
    await other.login(alice)
    await user_api.login(alice)
    response = await user_api.put("/api/v1/account/password", json=password_change(alice.password, NEW_PASSWORD))
    assert response.status_code == 204
    assert (await user_api.get("/api/v1/account")).status_code == 200
    assert (await other.get("/api/v1/account")).status_code == 401
    await other.aclose()


async def test_a_password_change_is_recorded_without_any_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await user_api.put("/api/v1/account/password", json=password_change(alice.password, NEW_PASSWORD))
    [entry] = await events_of(user_api, "account.password.changed")
    assert entry["user_id"] == alice.user.id
    assert entry["actor_id"] == alice.user.id
    assert entry["properties"] == {}
    everything = await user_api.get("/api/v1/account/activity")
    assert PASSWORD not in everything.text
    assert NEW_PASSWORD not in everything.text
