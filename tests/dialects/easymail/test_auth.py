"""/auth over the core login rules (no enumeration, throttling, two-factor) and the Auth-token on every call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hostplane.activity.events import Event
from hostplane.activity.log import Actor
from hostplane.app import create_app
from hostplane.auth import totp
from hostplane.panel.service import PanelSettingsService
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from tests.conftest import PASSWORD, Account, Api, activity_events
from tests.dialects.easymail.easy import Easy, assert_failure
from tests.dialects.openpanel.test_login import enable_two_factor

CALLS = [
    ("GET", "/domains"),
    ("GET", "/users/1"),
    ("POST", "/domains"),
    ("POST", "/user/1"),
    ("POST", "/user-change-password"),
    ("DELETE", "/domain"),
    ("DELETE", "/users"),
    ("POST", "/dkim/add-new-domain"),
    ("POST", "/ssl/letsencrypt/install"),
    ("POST", "/ssl/get-left-days"),
    ("POST", "/ssl/upload"),
    ("GET", "/export/domain"),
]


async def test_the_token_from_auth_is_a_core_session_the_native_api_accepts(easy: Easy, alice: Account) -> None:
    token = await easy.auth(alice)
    account = await easy.api.get("/api/v1/account", token=token)
    assert account.status_code == 200
    assert account.json()["username"] == "alice"


async def test_auth_accepts_the_email_address_and_urlencoded_or_query_parameters(easy: Easy, alice: Account) -> None:
    for encoding in ("urlencoded", "query"):
        response = await easy.call(
            "POST", "/auth", {"username": "alice@example.com", "password": PASSWORD}, encoding=encoding
        )
        assert response.status_code == 200, (encoding, response.text)
        assert response.json()["result"] is True


async def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(easy: Easy, alice: Account) -> None:
    wrong = await easy.call("POST", "/auth", {"username": "alice", "password": "not-the-password"})
    unknown = await easy.call("POST", "/auth", {"username": "nobody", "password": "not-the-password"})
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
    assert assert_failure(wrong, 401) == "Username/password is not correct"


async def test_a_disabled_account_gets_the_same_answer_too(
    easy: Easy, alice: Account, admin_api: Api, admin: Account
) -> None:
    await admin_api.login(admin)
    assert (await admin_api.post(f"/api/v1/admin/users/{alice.user.id}/disable")).status_code in (200, 204)
    response = await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD})
    assert assert_failure(response, 401) == "Username/password is not correct"


@pytest.mark.parametrize(
    "fields", [{}, {"username": "alice"}, {"password": PASSWORD}, {"username": "", "password": ""}]
)
async def test_auth_without_username_or_password_is_400(easy: Easy, fields: dict[str, str]) -> None:
    assert_failure(await easy.call("POST", "/auth", fields), 400)


async def test_repeated_failures_are_throttled_with_retry_after(
    settings_factory: Callable[..., Settings], alice: Account
) -> None:
    runtime = build_runtime(settings_factory(throttle_base_seconds=60))
    api = Api(create_app(runtime, "admin"))
    try:
        easy = Easy(api)
        for _ in range(runtime.settings.throttle_free_failures + 1):
            assert_failure(await easy.call("POST", "/auth", {"username": "alice", "password": "wrong-wrong"}), 401)
        blocked = await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD})
        assert_failure(blocked, 429)
        assert 50 <= int(blocked.headers["retry-after"]) <= 60
        assert await activity_events(runtime, alice.user.id, Event.LOGIN_FAILED)
    finally:
        await api.aclose()
        await runtime.close()


async def test_with_two_factor_on_auth_needs_the_code_as_otp(easy: Easy, alice: Account) -> None:
    secret = await enable_two_factor(easy.api, alice)
    without = await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD})
    assert "otp" in assert_failure(without, 401)
    wrong = await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD, "otp": "000000"})
    assert_failure(wrong, 401)
    code = totp.code_at(secret, totp.current_step(easy.api.clock.now().timestamp()))
    right = await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD, "otp": code})
    assert right.status_code == 200, right.text
    assert right.json()["result"] is True
    replay = await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD, "otp": code})
    assert_failure(replay, 401)


async def test_with_two_factor_on_a_wrong_password_still_says_only_that(easy: Easy, alice: Account) -> None:
    await enable_two_factor(easy.api, alice)
    response = await easy.call("POST", "/auth", {"username": "alice", "password": "nope-nope", "otp": "123456"})
    assert assert_failure(response, 401) == "Username/password is not correct"


@pytest.mark.parametrize(("method", "path"), CALLS)
async def test_every_call_without_a_valid_auth_token_is_401_in_the_dialects_shape(
    easy: Easy, alice: Account, method: str, path: str
) -> None:
    for token in (None, "", "not-a-token", "hp_" + "a" * 48, "Bearer x"):
        response = await easy.call(method, path, {"domain": "example.com"}, token=token)
        assert_failure(response, 401)


async def test_a_logged_out_session_token_is_refused(easy: Easy, alice: Account) -> None:
    token = await easy.auth(alice)
    assert (await easy.call("GET", "/domains")).status_code == 200
    assert (await easy.api.post("/api/v1/auth/logout", token=token)).status_code in (200, 204)
    assert_failure(await easy.call("GET", "/domains"), 401)


async def test_the_native_bearer_header_is_not_an_auth_token(easy: Easy, alice: Account) -> None:
    token = await easy.api.login(alice)
    response = await easy.api.http.get("/easymail/domains", headers={"Authorization": f"Bearer {token}"})
    assert_failure(response, 401)


async def make_api_key(api: Api, account: Account, **fields: Any) -> str:
    await api.login(account)
    response = await api.post("/api/v1/account/api-keys", json={"description": "easymail", **fields})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    api.token = None
    return token


async def test_an_api_key_works_as_auth_token_within_its_scopes(easy: Easy, alice: Account) -> None:
    reader = await make_api_key(easy.api, alice, scopes=["mail:read"])
    assert (await easy.call("GET", "/domains", token=reader)).status_code == 200
    refused = await easy.call(
        "POST", "/domains", {"domain": "example.com", "username": "a", "password": "pw-long-enough-1"}, token=reader
    )
    assert_failure(refused, 403)
    assert (await easy.call("GET", "/domains", token=await make_api_key(easy.api, alice))).json() == {"domains": []}


async def test_an_api_key_from_a_disallowed_address_is_403(
    easy: Easy, alice: Account, make_account: Callable[..., Any]
) -> None:
    key = await make_api_key(easy.api, alice, allowed_ips=["198.51.100.0/24"])
    assert_failure(await easy.call("GET", "/domains", token=key), 403)
    elsewhere = Easy(easy.api.from_peer("198.51.100.9"))
    assert (await elsewhere.call("GET", "/domains", token=key)).status_code == 200


async def test_the_two_factor_policy_holds_for_auth_tokens(easy: Easy, alice: Account, runtime: Runtime) -> None:
    token = await easy.auth(alice)
    await PanelSettingsService(runtime).set_two_factor_policy(Actor(None, "test"), True)
    assert_failure(await easy.call("GET", "/domains", token=token), 403)
    await PanelSettingsService(runtime).set_two_factor_policy(Actor(None, "test"), False)
    assert (await easy.call("GET", "/domains", token=token)).status_code == 200
