"""cPanel secure remote logins on each service's port: `POST /login/?login_only=1` as scripts send it, the
session cookie and the `/cpsess##########` token that every later request needs both of, two-factor, idle
expiry, the core rules that end sessions, the wrong-port refusals, webmail logins of mailboxes, and bad input
answered in the dialect's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hostplane.app import create_app
from hostplane.auth import totp
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from tests.conftest import PASSWORD, Account, Api
from tests.dialects.cpanel_sessions.sessions import (
    LOGIN,
    MAILBOX_PASSWORD,
    age_sessions,
    clear,
    logged_in,
    login,
    make_mailbox,
    refused,
)
from tests.dialects.whm.whmapi import settled_step


@pytest.fixture
async def webmail_api(runtime: Runtime) -> AsyncIterator[Api]:
    api = Api(create_app(runtime, "webmail"))
    yield api
    await api.aclose()


# --- the login -------------------------------------------------------------------------------------------


async def test_a_login_as_scripts_send_it_returns_the_token_and_the_cpsession_cookie(
    user_api: Api, alice: Account
) -> None:
    response = await user_api.post(LOGIN, data={"user": "alice", "pass": PASSWORD, "goto_uri": "/"})
    token = logged_in(response, "cpsession")
    assert response.json() == {"status": 1, "security_token": token, "redirect": f"{token}/"}
    assert "secure" not in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}
    page = await user_api.get(f"{token}/frontend/jupiter/index.html")
    assert page.status_code == 200, page.text
    assert page.json() == {
        "status": 1,
        "service": "cpaneld",
        "user": "alice",
        "security_token": token,
        "path": "/frontend/jupiter/index.html",
        "two_factor_setup_required": False,
    }


async def test_goto_uri_becomes_the_redirect_under_the_token(user_api: Api, alice: Account) -> None:
    response = await login(user_api, "alice", PASSWORD, goto_uri="/frontend/jupiter/domains/index.html")
    token = logged_in(response, "cpsession")
    assert response.json()["redirect"] == f"{token}/frontend/jupiter/domains/index.html"


async def test_each_login_gets_its_own_token(user_api: Api, alice: Account) -> None:
    first = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    second = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    assert first != second


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(user_api: Api, alice: Account) -> None:
    wrong = refused(await login(user_api, "alice", "not-the-password"), 401, "invalid_login")
    unknown = refused(await login(user_api, "nobody", "not-the-password"), 401, "invalid_login")
    assert wrong == unknown


async def test_repeated_failures_are_throttled_with_retry_after(
    user_api: Api, alice: Account, settings: Settings
) -> None:
    for _ in range(settings.throttle_free_failures + 1):
        refused(await login(user_api, "alice", "not-the-password"), 401, "invalid_login")
    throttled = refused(await login(user_api, "alice", PASSWORD), 429, "too_many_attempts")
    assert throttled["notice"]
    assert int((await login(user_api, "alice", PASSWORD)).headers["retry-after"]) >= 1


async def enable_two_factor(api: Api, account: Account) -> str:
    """2FA on through the native API, confirmed with the previous step's code (the current one stays free)."""
    await api.login(account)
    secret: str = (await api.post("/api/v1/account/two-factor/setup")).json()["secret"]
    step = await settled_step(api)
    response = await api.post(
        "/api/v1/account/two-factor", json={"code": totp.code_at(secret, step - 1), "password": account.password}
    )
    assert response.status_code == 200, response.text
    api.token = None
    return secret


async def test_with_two_factor_the_code_is_required_then_accepted(user_api: Api, alice: Account) -> None:
    secret = await enable_two_factor(user_api, alice)
    refused(await login(user_api, "alice", PASSWORD), 401, "tfa_required")
    refused(await login(user_api, "alice", PASSWORD, tfa_token="000000"), 401, "tfa_invalid")
    code = totp.code_at(secret, totp.current_step(user_api.clock.now().timestamp()))
    logged_in(await login(user_api, "alice", PASSWORD, tfa_token=code), "cpsession")
    refused(await login(user_api, "alice", PASSWORD, tfa_token=code), 401, "tfa_invalid")  # a code works once


async def test_two_factor_is_asked_only_after_the_right_password(user_api: Api, alice: Account) -> None:
    await enable_two_factor(user_api, alice)
    refused(await login(user_api, "alice", "not-the-password"), 401, "invalid_login")


# --- cookie and token ------------------------------------------------------------------------------------


async def test_the_cookie_without_the_token_is_refused(user_api: Api, alice: Account) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    other = "/cpsess" + ("1" if token[-1] != "1" else "2") * 10
    refused(await user_api.get(f"{other}/frontend/jupiter/index.html"), 401, "token_denied")
    assert (await user_api.get("/frontend/jupiter/index.html")).status_code == 404
    assert (await user_api.get(f"{token}/")).status_code == 200


async def test_the_token_without_the_cookie_is_refused(user_api: Api, alice: Account) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    clear(user_api)
    refused(await user_api.get(f"{token}/"), 401, "expired_session")
    refused(await user_api.get(f"{token}/", headers={"Cookie": "cpsession=forged-value"}), 401, "expired_session")


async def test_a_session_ends_when_idle(
    settings_factory: Callable[..., Settings], alice: Account, runtime: Runtime
) -> None:
    api = Api(create_app(runtime, "user"))
    token = logged_in(await login(api, "alice", PASSWORD), "cpsession")
    await age_sessions(runtime, runtime.settings.web_session_idle_seconds - 20)
    assert (await api.get(f"{token}/")).status_code == 200  # a use moves the idle deadline on
    await age_sessions(runtime, runtime.settings.web_session_idle_seconds + 1)
    refused(await api.get(f"{token}/"), 401, "expired_session")
    await api.aclose()


async def test_a_password_change_ends_the_web_sessions(user_api: Api, alice: Account) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    native = user_api.from_peer("203.0.113.8")
    await native.login(alice)
    changed = await native.put(
        "/api/v1/account/password",
        json={
            "current_password": PASSWORD,
            "password": "N3w-pass-phrase!",
            "password_confirmation": "N3w-pass-phrase!",
        },
    )
    assert changed.status_code == 204, changed.text
    refused(await user_api.get(f"{token}/"), 401, "expired_session")


async def test_disabling_the_user_ends_the_web_sessions(
    user_api: Api, admin_api: Api, alice: Account, admin: Account
) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    await admin_api.login(admin)
    assert (await admin_api.post(f"/api/v1/admin/users/{alice.user.id}/disable")).status_code == 200
    refused(await user_api.get(f"{token}/"), 401, "expired_session")
    refused(await login(user_api, "alice", PASSWORD), 401, "invalid_login")


async def test_the_web_session_is_a_core_session_the_owner_can_revoke(user_api: Api, alice: Account) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    native = user_api.from_peer("203.0.113.8")
    await native.login(alice)
    sessions = (await native.get("/api/v1/account/sessions")).json()
    listed = sessions["data"] if isinstance(sessions, dict) else sessions
    others = [item for item in listed if not item.get("current")]
    assert len(others) == 1, listed
    assert (await native.delete(f"/api/v1/account/sessions/{others[0]['id']}")).status_code == 204
    refused(await user_api.get(f"{token}/"), 401, "expired_session")


async def test_logout_ends_the_session_and_clears_the_cookie(user_api: Api, alice: Account) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    cookie = user_api.http.cookies["cpsession"]
    response = await user_api.get(f"{token}/logout/")
    assert response.status_code == 200
    assert response.json() == {"status": 1, "message": "logged_out"}
    assert 'cpsession=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    refused(await user_api.get(f"{token}/", headers={"Cookie": f"cpsession={cookie}"}), 401, "expired_session")


async def test_a_still_valid_token_is_reused_when_asked(user_api: Api, alice: Account) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    again = logged_in(await login(user_api, "alice", PASSWORD, active_token_for_reuse=token), "cpsession")
    assert again == token
    assert (await user_api.get(f"{token}/")).status_code == 200
    unknown = "/cpsess" + ("1" if token[-1] != "1" else "2") * 10
    fresh = logged_in(await login(user_api, "alice", PASSWORD, active_token_for_reuse=unknown), "cpsession")
    assert fresh != unknown


# --- services and ports ----------------------------------------------------------------------------------


async def test_an_administrator_logs_in_to_whostmgrd_on_the_admin_port(admin_api: Api, admin: Account) -> None:
    token = logged_in(await login(admin_api, "root", PASSWORD), "whostmgrsession")
    page = await admin_api.get(f"{token}/")
    assert page.json()["service"] == "whostmgrd"
    assert page.json()["user"] == "root"


async def test_a_login_on_another_services_port_is_refused_like_a_wrong_password(
    user_api: Api, admin_api: Api, alice: Account, admin: Account
) -> None:
    wrong_password = refused(await login(user_api, "alice", "not-the-password"), 401, "invalid_login")
    assert refused(await login(admin_api, "alice", PASSWORD), 401, "invalid_login") == wrong_password
    assert refused(await login(user_api, "root", PASSWORD), 401, "invalid_login") == wrong_password


async def test_a_session_is_good_only_on_its_own_port(
    user_api: Api, admin_api: Api, webmail_api: Api, alice: Account
) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    cookie = user_api.http.cookies["cpsession"]
    for api, name in ((admin_api, "whostmgrsession"), (webmail_api, "webmailsession"), (admin_api, "cpsession")):
        response = await api.get(f"{token}/", headers={"Cookie": f"{name}={cookie}"})
        refused(response, 401, "expired_session")


async def test_whm_calls_on_the_cpanel_and_webmail_ports_get_function_not_found(
    user_api: Api, webmail_api: Api, alice: Account
) -> None:
    token = logged_in(await login(user_api, "alice", PASSWORD), "cpsession")
    for api, path in (
        (user_api, "/json-api/twofactorauth_policy_status?api.version=1"),
        (user_api, f"{token}/json-api/twofactorauth_policy_status?api.version=1"),
        (webmail_api, "/json-api/create_user_session?api.version=1"),
    ):
        response = await api.get(path)
        assert response.status_code == 404
        assert response.json()["cpanelresult"]["error"] == "Function not found"


# --- webmail ---------------------------------------------------------------------------------------------


async def test_a_mailbox_logs_in_to_webmail_with_its_address_and_password(
    webmail_api: Api, alice: Account, runtime: Runtime
) -> None:
    await make_mailbox(runtime, alice.user.id, "info@shop.example")
    token = logged_in(await login(webmail_api, "info@shop.example", MAILBOX_PASSWORD), "webmailsession")
    page = await webmail_api.get(f"{token}/")
    assert page.json()["service"] == "webmaild"
    assert page.json()["user"] == "info@shop.example"


async def test_webmail_refuses_wrong_passwords_panel_accounts_and_other_ports(
    webmail_api: Api, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await make_mailbox(runtime, alice.user.id, "info@shop.example")
    wrong = refused(await login(webmail_api, "info@shop.example", "not-the-password"), 401, "invalid_login")
    assert refused(await login(webmail_api, "nobody@shop.example", "not-the-password"), 401, "invalid_login") == wrong
    assert refused(await login(webmail_api, "alice", PASSWORD), 401, "invalid_login") == wrong
    assert refused(await login(user_api, "info@shop.example", MAILBOX_PASSWORD), 401, "invalid_login") == wrong


async def test_a_mailbox_password_change_ends_its_webmail_sessions(
    webmail_api: Api, alice: Account, runtime: Runtime
) -> None:
    from sqlalchemy import update

    from hostplane.mail.models import Mailbox

    mailbox_id = await make_mailbox(runtime, alice.user.id, "info@shop.example")
    token = logged_in(await login(webmail_api, "info@shop.example", MAILBOX_PASSWORD), "webmailsession")
    new_hash = await runtime.hashing.hash("An0ther-mailbox-pass")
    async with runtime.writing() as db:
        await db.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(password_hash=new_hash))
    refused(await webmail_api.get(f"{token}/"), 401, "expired_session")


# --- bad input -------------------------------------------------------------------------------------------

BAD_LOGINS: list[tuple[str, dict[str, Any]]] = [
    ("no body", {}),
    ("JSON instead of a form", {"json": {"user": "alice", "pass": PASSWORD}}),
    ("no password", {"data": {"user": "alice"}}),
    ("no user", {"data": {"pass": PASSWORD}}),
    ("empty user", {"data": {"user": " ", "pass": PASSWORD}}),
    ("CR LF in the user", {"data": {"user": "alice\r\nSet-Cookie: x=y", "pass": PASSWORD}}),
    ("NUL in the password", {"data": {"user": "alice", "pass": "a\x00b"}}),
    ("an enormous password", {"data": {"user": "alice", "pass": "x" * 5000}}),
    ("too many fields", {"data": {f"f{i}": "1" for i in range(40)}}),
    ("goto_uri to another host", {"data": {"user": "alice", "pass": PASSWORD, "goto_uri": "//evil.example/"}}),
    ("goto_uri with a scheme", {"data": {"user": "alice", "pass": PASSWORD, "goto_uri": "https://evil.example/"}}),
    ("goto_uri not a path", {"data": {"user": "alice", "pass": PASSWORD, "goto_uri": "evil"}}),
    ("a file upload", {"files": {"user": ("u.txt", b"alice")}, "data": {"pass": PASSWORD}}),
    ("non-UTF-8 form", {"content": b"user=%ff%fe&pass=x", "headers": {"Content-Type": "text/plain"}}),
]


@pytest.mark.parametrize(("case", "request_args"), BAD_LOGINS, ids=[case for case, _ in BAD_LOGINS])
async def test_bad_input_is_answered_in_the_dialects_shape(
    user_api: Api, alice: Account, case: str, request_args: dict[str, Any]
) -> None:
    response = await user_api.post(LOGIN, **request_args)
    refused(response, 400, "invalid_request")


async def test_a_bad_one_time_session_value_is_refused_in_the_dialects_shape(user_api: Api) -> None:
    for query in ("", "?session=", "?session=alice", "?session=alice:short:X", "?session=alice:" + "A" * 43 + ":X"):
        response = await user_api.get(f"/cpsess0123456789/login/{query}")
        assert response.status_code in (400, 401), response.text
        assert response.json()["status"] == 0
        assert "set-cookie" not in response.headers
