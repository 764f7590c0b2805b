"""OpenPanel's `POST /api/login`, sent exactly as its API document shows, over the core login rules."""

from __future__ import annotations

from hostplane.auth import totp
from hostplane.auth.tokens import decode_access_token
from hostplane.runtime import Runtime
from tests.conftest import PASSWORD, Account, Api

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
LOGIN = "/api/login"


async def enable_two_factor(api: Api, account: Account) -> str:
    """Turn 2FA on through the native API; returns the secret."""
    await api.login(account)
    secret = (await api.post("/api/v1/account/two-factor/setup")).json()["secret"]
    step = totp.current_step(api.clock.now().timestamp()) - 1  # leave the current step free for the login under test
    response = await api.post(
        "/api/v1/account/two-factor", json={"code": totp.code_at(secret, step), "password": account.password}
    )
    assert response.status_code == 200, response.text
    return secret


async def test_login_without_2fa_returns_a_token_the_native_api_accepts(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    response = await user_api.post(LOGIN, headers=HEADERS, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["token"], str)
    assert body["expires_in"] == runtime.settings.access_token_seconds
    assert body["user_id"] == alice.user.id
    claims = decode_access_token(runtime.keyring.signing_key, body["token"], runtime.clock.now())
    assert claims is not None
    assert claims.user_id == alice.user.id
    account = await user_api.get("/api/v1/account", token=body["token"])
    assert account.json()["username"] == "alice"


async def test_login_with_2fa_asks_for_the_code_then_accepts_it(user_api: Api, alice: Account) -> None:
    secret = await enable_two_factor(user_api, alice)
    first = await user_api.post(LOGIN, headers=HEADERS, json={"username": "alice", "password": PASSWORD})
    assert first.status_code == 200
    assert first.json() == {"twofa_required": True, "user_id": alice.user.id}

    code = totp.code_at(secret, totp.current_step(user_api.clock.now().timestamp()))
    second = await user_api.post(
        LOGIN, headers=HEADERS, json={"username": "alice", "password": PASSWORD, "twofa_code": code}
    )
    assert second.status_code == 200
    body = second.json()
    assert set(body) == {"token", "user_id", "expires_in"}
    assert body["user_id"] == alice.user.id
    assert isinstance(body["expires_in"], int)
    assert (await user_api.get("/api/v1/account", token=body["token"])).status_code == 200


async def test_a_replayed_or_wrong_2fa_code_is_refused_in_openpanel_shape(user_api: Api, alice: Account) -> None:
    secret = await enable_two_factor(user_api, alice)
    code = totp.code_at(secret, totp.current_step(user_api.clock.now().timestamp()))
    body = {"username": "alice", "password": PASSWORD, "twofa_code": code}
    assert (await user_api.post(LOGIN, headers=HEADERS, json=body)).status_code == 200
    replay = await user_api.post(LOGIN, headers=HEADERS, json=body)
    assert replay.status_code == 401
    assert set(replay.json()) == {"error"}
    wrong = await user_api.post(LOGIN, headers=HEADERS, json={**body, "twofa_code": "000000"})
    assert wrong.status_code == 401
    assert set(wrong.json()) == {"error"}


async def test_a_token_is_never_given_without_the_code_when_2fa_is_on(user_api: Api, alice: Account) -> None:
    await enable_two_factor(user_api, alice)
    response = await user_api.post(LOGIN, headers=HEADERS, json={"username": "alice", "password": PASSWORD})
    assert "token" not in response.json()


async def test_wrong_password_and_unknown_user_get_the_same_answer(user_api: Api, alice: Account) -> None:
    wrong = await user_api.post(LOGIN, headers=HEADERS, json={"username": "alice", "password": "not-it-at-all"})
    unknown = await user_api.post(LOGIN, headers=HEADERS, json={"username": "nobody", "password": "not-it-at-all"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert set(wrong.json()) == {"error"}


async def test_guessing_is_throttled_by_the_core_rules(user_api: Api, alice: Account, runtime: Runtime) -> None:
    for _ in range(runtime.settings.throttle_free_failures + 1):
        await user_api.post(LOGIN, headers=HEADERS, json={"username": "alice", "password": "not-it-at-all"})
    blocked = await user_api.post(LOGIN, headers=HEADERS, json={"username": "alice", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert set(blocked.json()) == {"error"}


async def test_bad_input_gets_a_400_in_openpanel_shape(user_api: Api, alice: Account) -> None:
    bad_bodies: list[object] = [
        {"username": "alice"},
        {"password": PASSWORD},
        {"username": "alice\r\nX-Injected: 1", "password": PASSWORD},
        {"username": "alice", "password": PASSWORD, "twofa_code": "12\n3456"},
        {"username": "alice", "password": PASSWORD, "admin": True},
        ["alice", PASSWORD],
        "alice",
    ]
    for body in bad_bodies:
        response = await user_api.post(LOGIN, headers=HEADERS, json=body)
        assert response.status_code == 400, body
        assert set(response.json()) == {"error"}, body
    garbage = await user_api.post(LOGIN, headers=HEADERS, content=b"{not json")
    assert garbage.status_code == 400
    assert set(garbage.json()) == {"error"}


async def test_the_openpanel_login_lives_on_the_user_port_only(admin_api: Api, admin: Account) -> None:
    response = await admin_api.post(LOGIN, headers=HEADERS, json={"username": "root", "password": PASSWORD})
    assert response.status_code == 404
