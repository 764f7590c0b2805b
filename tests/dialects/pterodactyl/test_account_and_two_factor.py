"""Account, email, password and two-factor through Pterodactyl's routes, over the core rules: what is done here
holds on the native API (a changed email, ended sessions, two-factor required at the native login)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hostplane.auth import totp
from tests.api.test_two_factor import oathtool, password_step, second_step, settled_step, wrong_code
from tests.conftest import Account, Api
from tests.dialects.pterodactyl.ptero import (
    enable_two_factor,
    error_of,
    resource,
    send,
    validation_errors,
)

NEW_PASSWORD = "N3w-pass-phrase!"


async def two_factor_on(api: Api) -> bool:
    response = await api.get("/api/v1/account/two-factor")
    assert response.status_code == 200, response.text
    return bool(response.json()["enabled"])


# --- email and password --------------------------------------------------------------------------------


async def test_a_changed_email_shows_on_the_native_api(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "PUT", "/email", {"email": "Alice@Example.ORG", "password": alice.password})
    assert response.status_code == 204
    assert (await user_api.get("/api/v1/account")).json()["email"] == "alice@example.org"


async def test_an_email_must_be_valid_and_free(user_api: Api, alice: Account, make_account: Callable[..., Any]) -> None:
    await make_account("bob")
    await user_api.login(alice)
    invalid = await send(user_api, "PUT", "/email", {"email": "not-an-email", "password": alice.password})
    assert validation_errors(invalid) == [("email", "email", "The email must be a valid email address.")]
    taken = await send(user_api, "PUT", "/email", {"email": "bob@example.com", "password": alice.password})
    assert validation_errors(taken) == [("email", "unique", "The email has already been taken.")]
    assert resource(await send(user_api, "GET", ""), "user")["email"] == "alice@example.com"


async def test_an_email_change_needs_the_right_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    wrong = await send(user_api, "PUT", "/email", {"email": "alice@example.org", "password": "wrong-password"})
    error_of(wrong, 400, "InvalidPasswordProvidedException")
    missing = await send(user_api, "PUT", "/email", {"email": "alice@example.org"})
    assert validation_errors(missing) == [("password", "required", "The password field is required.")]
    assert resource(await send(user_api, "GET", ""), "user")["email"] == "alice@example.com"


async def test_a_password_change_keeps_this_session_and_ends_the_others(user_api: Api, alice: Account) -> None:
    other = await user_api.login(alice)
    this = await user_api.login(alice)
    response = await send(
        user_api,
        "PUT",
        "/password",
        {"current_password": alice.password, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD},
    )
    assert response.status_code == 204
    assert (await send(user_api, "GET", "", token=this)).status_code == 200
    error_of(await send(user_api, "GET", "", token=other), 401, "AuthenticationException")
    old = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": alice.password})
    assert old.status_code == 401


async def test_a_password_change_follows_the_core_rules(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)

    async def change(current: str, new: str, confirmation: str) -> list[tuple[str, str, str]]:
        body = {"current_password": current, "password": new, "password_confirmation": confirmation}
        return validation_errors(await send(user_api, "PUT", "/password", body))

    [(field, rule, _)] = await change(alice.password, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert (field, rule) == ("password_confirmation", "confirmed")
    [(field, rule, _)] = await change(alice.password, "short", "short")
    assert (field, rule) == ("password", "min")
    [(field, rule, _)] = await change(alice.password, "password1234", "password1234")
    assert (field, rule) == ("password", "uncompromised")
    wrong = {"current_password": "wrong-password", "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}
    error_of(await send(user_api, "PUT", "/password", wrong), 400, "InvalidPasswordProvidedException")
    assert (
        await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": alice.password})
    ).status_code == 200


# --- two-factor ----------------------------------------------------------------------------------------


async def test_two_factor_enabled_here_is_asked_at_the_native_login(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    secret, _step = await enable_two_factor(user_api, alice)
    assert await two_factor_on(user_api)
    challenge = await password_step(user_api, alice)
    accepted = await second_step(user_api, challenge, oathtool(secret, user_api.clock.now()))
    assert accepted.status_code == 200, accepted.text


async def test_the_recovery_tokens_given_here_work_at_the_native_login(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    secret = (await send(user_api, "GET", "/two-factor")).json()["data"]["secret"]
    step = await settled_step(user_api)
    enabled = await send(
        user_api, "POST", "/two-factor", {"code": totp.code_at(secret, step - 1), "password": alice.password}
    )
    tokens = resource(enabled, "recovery_tokens")["tokens"]
    accepted = await second_step(user_api, await password_step(user_api, alice), tokens[0])
    assert accepted.status_code == 200, accepted.text
    replayed = await second_step(user_api, await password_step(user_api, alice), tokens[0])
    assert replayed.status_code == 401


async def test_enabling_ends_the_other_sessions(user_api: Api, alice: Account) -> None:
    other = await user_api.login(alice)
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    error_of(await send(user_api, "GET", "", token=other), 401, "AuthenticationException")
    assert (await send(user_api, "GET", "")).status_code == 200


async def test_setup_is_400_once_two_factor_is_on(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    error = error_of(await send(user_api, "GET", "/two-factor"), 400, "BadRequestHttpException")
    assert error["detail"] == "Two-factor authentication is already enabled on this account."


async def test_enabling_needs_a_valid_unused_code_and_the_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    secret = (await send(user_api, "GET", "/two-factor")).json()["data"]["secret"]
    step = await settled_step(user_api)
    code = totp.code_at(secret, step)
    missing = await send(user_api, "POST", "/two-factor", {"code": code})
    assert validation_errors(missing) == [("password", "required", "The password field is required.")]
    wrong_password = await send(user_api, "POST", "/two-factor", {"code": code, "password": "wrong-password"})
    error_of(wrong_password, 400, "InvalidPasswordProvidedException")
    bad = await send(user_api, "POST", "/two-factor", {"code": wrong_code(secret, step), "password": alice.password})
    [(field, rule, _)] = validation_errors(bad)
    assert (field, rule) == ("code", "totp")
    assert not await two_factor_on(user_api)


async def test_enabling_without_a_setup_first_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "POST", "/two-factor", {"code": "123456", "password": alice.password})
    [(field, _rule, detail)] = validation_errors(response)
    assert field == "code"
    assert "setup" in detail


async def test_disabling_needs_the_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    error_of(
        await send(user_api, "POST", "/two-factor/disable", {"password": "wrong-password"}),
        400,
        "InvalidPasswordProvidedException",
    )
    assert validation_errors(await send(user_api, "POST", "/two-factor/disable", {})) == [
        ("password", "required", "The password field is required.")
    ]
    assert await two_factor_on(user_api)


async def test_disabling_when_off_is_400(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "POST", "/two-factor/disable", {"password": alice.password})
    error_of(response, 400, "BadRequestHttpException")


async def test_the_older_delete_takes_the_password_from_the_body(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    response = await send(user_api, "DELETE", "/two-factor", {"password": alice.password})
    assert response.status_code == 204
    assert not await two_factor_on(user_api)


async def test_the_older_delete_takes_the_password_from_the_query(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    response = await send(user_api, "DELETE", "/two-factor", params={"password": alice.password})
    assert response.status_code == 204
    assert not await two_factor_on(user_api)


async def test_the_older_delete_without_a_password_changes_nothing(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    response = await send(user_api, "DELETE", "/two-factor")
    assert validation_errors(response) == [
        ("password", "required", "The current password is required for this change.")
    ]
    error_of(
        await send(user_api, "DELETE", "/two-factor", params={"password": "wrong-password"}),
        400,
        "InvalidPasswordProvidedException",
    )
    assert await two_factor_on(user_api)
