"""Specification of two-factor authentication (TOTP, RFC 6238) through the native API.

TOTP codes are computed with hostplane.auth.totp.code_at for explicit time steps, so nothing depends on luck:
2FA is switched on with the code of the *previous* step, which leaves the current step free for the first
login, and every helper first waits out the last seconds of a step so a test never straddles a step change.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select, update

from hostplane.auth import totp
from hostplane.auth.models import LoginChallenge, RecoveryCode, User
from hostplane.runtime import Runtime
from tests.conftest import Account, Api, activity_events, oathtool

SETUP = "/api/v1/account/two-factor/setup"
ENABLE = "/api/v1/account/two-factor"
STATUS = "/api/v1/account/two-factor"
DISABLE = "/api/v1/account/two-factor/disable"
LOGIN = "/api/v1/auth/login"
SECOND_STEP = "/api/v1/auth/login/two-factor"
ACCOUNT = "/api/v1/account"
BASE32 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Enrolled:
    secret: str
    recovery_codes: list[str]
    step: int
    """The current time step when 2FA went on (enabled with step - 1, so this step is still unused)."""


async def settled_step(api: Api) -> int:
    """The current TOTP step on the clock of the panel behind `api` (it moves only when a test moves it)."""
    return totp.current_step(api.clock.now().timestamp())


def wrong_code(secret: str, step: int) -> str:
    """A well-formed six-digit code that is valid for no step near `step`."""
    valid = {totp.code_at(secret, near) for near in range(step - 3, step + 4)}
    candidate = int(totp.code_at(secret, step))
    while f"{candidate:06d}" in valid:
        candidate = (candidate + 1) % 10**6
    return f"{candidate:06d}"


async def enable_two_factor(api: Api, account: Account) -> Enrolled:
    """Set up and switch on 2FA for the logged-in account, with the code of the previous time step."""
    setup = await api.post(SETUP)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    step = await settled_step(api)
    enabled = await api.post(ENABLE, json={"code": totp.code_at(secret, step - 1), "password": account.password})
    assert enabled.status_code == 200, enabled.text
    return Enrolled(secret=secret, recovery_codes=enabled.json()["recovery_codes"], step=step)


async def password_step(api: Api, account: Account) -> str:
    response = await api.post(LOGIN, json={"username": account.username, "password": account.password})
    assert response.status_code == 200, response.text
    assert response.json()["two_factor_required"] is True
    return str(response.json()["challenge"])


async def second_step(api: Api, challenge: str, code: str) -> httpx.Response:
    return await api.post(SECOND_STEP, json={"challenge": challenge, "code": code})


async def login_with_code(api: Api, account: Account, code: str) -> str:
    response = await second_step(api, await password_step(api, account), code)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


async def user_row(runtime: Runtime, user_id: int) -> User:
    async with runtime.reading() as db:
        user = await db.get(User, user_id)
    assert user is not None
    return user


async def recovery_rows(runtime: Runtime, user_id: int) -> list[RecoveryCode]:
    async with runtime.reading() as db:
        return list(await db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id)))


async def recovery_codes_left(api: Api, token: str) -> int:
    response = await api.get(STATUS, token=token)
    assert response.status_code == 200, response.text
    return int(response.json()["recovery_codes_left"])


# --- setup ---------------------------------------------------------------------------------------------


async def test_setup_returns_a_160_bit_base32_secret(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    secret = (await user_api.post(SETUP)).json()["secret"]
    assert len(secret) == 32
    assert set(secret) <= BASE32
    assert len(base64.b32decode(secret)) == 20


async def test_setup_returns_a_fresh_secret_each_time(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    first = (await user_api.post(SETUP)).json()["secret"]
    second = (await user_api.post(SETUP)).json()["secret"]
    assert first != second


async def test_setup_returns_an_otpauth_uri_with_issuer_and_secret(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    body = (await user_api.post(SETUP)).json()
    uri = urllib.parse.urlsplit(body["otpauth_uri"])
    query = urllib.parse.parse_qs(uri.query)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert "alice" in urllib.parse.unquote(uri.path)
    assert query["secret"] == [body["secret"]]
    assert query["issuer"] == ["Hostplane"]


async def test_setup_returns_the_qr_code_as_a_png_data_url(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    qr_code = (await user_api.post(SETUP)).json()["qr_code"]
    prefix = "data:image/png;base64,"
    assert qr_code.startswith(prefix)
    assert base64.b64decode(qr_code[len(prefix) :]).startswith(PNG_SIGNATURE)


async def test_setup_alone_does_not_turn_two_factor_on(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await user_api.post(SETUP)
    assert (await user_api.get(STATUS)).json() == {"enabled": False, "recovery_codes_left": 0}
    response = await user_api.post(LOGIN, json={"username": "alice", "password": alice.password})
    assert "token" in response.json()


async def test_pending_secret_is_encrypted_at_rest(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    secret = (await user_api.post(SETUP)).json()["secret"]
    pending = (await user_row(runtime, alice.user.id)).totp_pending_sealed
    assert pending is not None
    assert secret.encode() not in pending
    assert base64.b32decode(secret) not in pending


async def test_setup_while_two_factor_is_enabled_is_a_conflict(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    response = await user_api.post(SETUP)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


# --- enabling ------------------------------------------------------------------------------------------


async def test_code_from_oathtool_turns_two_factor_on(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    secret = (await user_api.post(SETUP)).json()["secret"]
    await settled_step(user_api)
    response = await user_api.post(
        ENABLE, json={"code": oathtool(secret, user_api.clock.now()), "password": alice.password}
    )
    assert response.status_code == 200, response.text
    assert (await user_api.get(STATUS)).json() == {"enabled": True, "recovery_codes_left": 10}


async def test_enabling_returns_ten_distinct_recovery_codes(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    codes = (await enable_two_factor(user_api, alice)).recovery_codes
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(code) >= 10 and code.isalnum() for code in codes)


async def test_enabling_with_a_wrong_password_is_refused_and_changes_nothing(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    other = await user_api.login(alice)
    await user_api.login(alice)
    secret = (await user_api.post(SETUP)).json()["secret"]
    step = await settled_step(user_api)
    response = await user_api.post(ENABLE, json={"code": totp.code_at(secret, step), "password": "wrong-password-1"})
    assert response.status_code == 400
    assert response.json()["code"] == "incorrect_password"
    assert (await user_api.get(STATUS)).json() == {"enabled": False, "recovery_codes_left": 0}
    assert (await user_row(runtime, alice.user.id)).totp_secret_sealed is None
    assert await recovery_rows(runtime, alice.user.id) == []
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 200


async def test_enabling_with_a_wrong_code_is_refused_and_changes_nothing(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    other = await user_api.login(alice)
    await user_api.login(alice)
    secret = (await user_api.post(SETUP)).json()["secret"]
    step = await settled_step(user_api)
    response = await user_api.post(ENABLE, json={"code": wrong_code(secret, step), "password": alice.password})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["code"]
    assert (await user_api.get(STATUS)).json() == {"enabled": False, "recovery_codes_left": 0}
    assert (await user_row(runtime, alice.user.id)).totp_secret_sealed is None
    assert await recovery_rows(runtime, alice.user.id) == []
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 200


async def test_enabling_without_setup_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.post(ENABLE, json={"code": "123456", "password": alice.password})
    assert response.status_code == 422
    assert (await user_api.get(STATUS)).json()["enabled"] is False


async def test_recovery_codes_are_stored_hashed(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    codes = (await enable_two_factor(user_api, alice)).recovery_codes
    rows = await recovery_rows(runtime, alice.user.id)
    assert len(rows) == 10
    stored = " ".join(f"{row.id} {row.code_hash} {row.created_at} {row.used_at}" for row in rows).lower()
    for code in codes:
        assert code.lower() not in stored


async def test_totp_secret_is_encrypted_at_rest(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    secret = (await enable_two_factor(user_api, alice)).secret
    sealed = (await user_row(runtime, alice.user.id)).totp_secret_sealed
    assert sealed is not None
    assert secret.encode() not in sealed
    assert secret.lower().encode() not in sealed
    assert base64.b32decode(secret) not in sealed
    assert runtime.keyring.open(sealed, f"totp:{alice.user.id}") == secret.encode()


async def test_enabling_ends_every_other_session(user_api: Api, alice: Account) -> None:
    other = await user_api.login(alice)
    current = await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 401
    assert (await user_api.get(ACCOUNT, token=current)).status_code == 200


async def test_enabling_is_logged(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    assert len(await activity_events(runtime, alice.user.id, "account.2fa.enabled")) == 1


# --- logging in with the second factor ----------------------------------------------------------------


async def test_login_with_two_factor_returns_a_challenge_and_no_token(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    response = await user_api.post(LOGIN, json={"username": "alice", "password": alice.password})
    assert response.status_code == 200
    body = response.json()
    assert body["two_factor_required"] is True
    assert body["user_id"] == alice.user.id
    assert 0 < body["expires_in"] <= 600
    assert len(body["challenge"]) >= 32
    assert "token" not in body


async def test_challenge_with_a_valid_totp_code_returns_a_working_token(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    token = await login_with_code(user_api, alice, totp.code_at(enrolled.secret, enrolled.step))
    account = await user_api.get(ACCOUNT, token=token)
    assert account.status_code == 200
    assert account.json()["username"] == "alice"
    sessions = (await user_api.get("/api/v1/account/sessions", token=token)).json()
    assert [s["method"] for s in sessions if s["current"]] == ["totp"]


async def test_totp_code_of_a_used_time_step_is_refused_as_replay(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    code = totp.code_at(enrolled.secret, enrolled.step)
    await login_with_code(user_api, alice, code)
    replay = await second_step(user_api, await password_step(user_api, alice), code)
    assert replay.status_code == 401
    assert "token" not in replay.json()
    assert len(await activity_events(runtime, alice.user.id, "auth.2fa.replay")) == 1


async def test_code_used_to_turn_two_factor_on_cannot_log_in(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    replay = await second_step(
        user_api, await password_step(user_api, alice), totp.code_at(enrolled.secret, enrolled.step - 1)
    )
    assert replay.status_code == 401
    assert len(await activity_events(runtime, alice.user.id, "auth.2fa.replay")) == 1


async def test_earlier_step_is_refused_once_a_later_one_was_used(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    await login_with_code(user_api, alice, totp.code_at(enrolled.secret, enrolled.step))
    stale = await second_step(
        user_api, await password_step(user_api, alice), totp.code_at(enrolled.secret, enrolled.step - 1)
    )
    assert stale.status_code == 401


async def test_recovery_code_logs_in_once(user_api: Api, alice: Account, runtime: Runtime) -> None:
    session = await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    code = enrolled.recovery_codes[3]
    token = await login_with_code(user_api, alice, code)
    assert (await user_api.get(ACCOUNT, token=token)).status_code == 200
    used = await activity_events(runtime, alice.user.id, "auth.recovery_code.used")
    assert len(used) == 1
    assert used[0].properties == {"remaining": 9}
    assert code not in str(used[0].properties)
    again = await second_step(user_api, await password_step(user_api, alice), code)
    assert again.status_code == 401
    assert await recovery_codes_left(user_api, session) == 9


async def test_concurrent_use_of_one_recovery_code_lets_exactly_one_in(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    session = await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    rounds = 5
    for code in enrolled.recovery_codes[:rounds]:
        first, second = await password_step(user_api, alice), await password_step(user_api, alice)
        responses = await asyncio.gather(second_step(user_api, first, code), second_step(user_api, second, code))
        assert sorted(r.status_code for r in responses) == [200, 401], [r.text for r in responses]
    assert await recovery_codes_left(user_api, session) == 10 - rounds
    assert len(await activity_events(runtime, alice.user.id, "auth.recovery_code.used")) == rounds


async def test_expired_challenge_is_refused(user_api: Api, alice: Account, runtime: Runtime) -> None:
    session = await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    challenge = await password_step(user_api, alice)
    async with runtime.writing() as db:
        await db.execute(
            update(LoginChallenge)
            .where(LoginChallenge.user_id == alice.user.id)
            .values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1))
        )
    response = await second_step(user_api, challenge, enrolled.recovery_codes[0])
    assert response.status_code == 401
    assert await recovery_codes_left(user_api, session) == 10


async def test_challenge_is_single_use(user_api: Api, alice: Account) -> None:
    session = await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    challenge = await password_step(user_api, alice)
    assert (await second_step(user_api, challenge, enrolled.recovery_codes[0])).status_code == 200
    reused = await second_step(user_api, challenge, enrolled.recovery_codes[1])
    assert reused.status_code == 401
    assert await recovery_codes_left(user_api, session) == 9


async def test_unknown_challenge_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    response = await second_step(user_api, "not-a-challenge-" + "x" * 30, enrolled.recovery_codes[0])
    assert response.status_code == 401


async def test_five_wrong_codes_burn_the_challenge(user_api: Api, alice: Account, runtime: Runtime) -> None:
    session = await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    challenge = await password_step(user_api, alice)
    bad = wrong_code(enrolled.secret, enrolled.step)
    for _ in range(5):
        assert (await second_step(user_api, challenge, bad)).status_code == 401
    burned = await second_step(user_api, challenge, enrolled.recovery_codes[0])
    assert burned.status_code == 401
    assert await recovery_codes_left(user_api, session) == 10
    async with runtime.reading() as db:
        ticket = await db.scalar(select(LoginChallenge).where(LoginChallenge.user_id == alice.user.id))
    assert ticket is not None and ticket.used_at is not None and ticket.failures == 5
    # The recovery code itself was fine: a fresh challenge accepts it.
    await login_with_code(user_api, alice, enrolled.recovery_codes[0])


async def test_wrong_code_answer_does_not_tell_totp_from_recovery_code(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    challenge = await password_step(user_api, alice)
    as_totp = await second_step(user_api, challenge, wrong_code(enrolled.secret, enrolled.step))
    as_recovery = await second_step(user_api, challenge, "zzzzzzzzzz")
    assert as_totp.status_code == as_recovery.status_code == 401
    assert as_totp.json() == as_recovery.json()


async def test_wrong_codes_are_throttled_with_429_and_retry_after(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    bad = wrong_code(enrolled.secret, enrolled.step)
    first = await password_step(user_api, alice)
    for _ in range(5):
        assert (await second_step(user_api, first, bad)).status_code == 401
    second = await password_step(user_api, alice)
    assert (await second_step(user_api, second, bad)).status_code == 401
    throttled = await second_step(user_api, second, enrolled.recovery_codes[0])
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"
    assert int(throttled.headers["retry-after"]) >= 1


async def test_correct_password_does_not_reset_the_second_factor_throttle(user_api: Api, alice: Account) -> None:
    """Otherwise whoever knows the password gets 5 fresh guesses per login, from as many addresses as they like."""
    await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    bad = wrong_code(enrolled.secret, enrolled.step)
    here, there = user_api.from_peer("198.51.100.1"), user_api.from_peer("198.51.100.2")
    first = await password_step(here, alice)
    for _ in range(5):
        assert (await second_step(here, first, bad)).status_code == 401
    second = await password_step(there, alice)
    assert (await second_step(there, second, bad)).status_code == 401
    throttled = await second_step(there, second, bad)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1


# --- disabling and admin reset -------------------------------------------------------------------------


async def test_disabling_needs_the_password(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    response = await user_api.post(DISABLE, json={"password": "wrong-password-1"})
    assert response.status_code == 400
    assert response.json()["code"] == "incorrect_password"
    assert (await user_api.get(STATUS)).json() == {"enabled": True, "recovery_codes_left": 10}
    assert len(await recovery_rows(runtime, alice.user.id)) == 10


async def test_disabling_turns_two_factor_off_and_removes_recovery_codes(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    response = await user_api.post(DISABLE, json={"password": alice.password})
    assert response.status_code == 204
    assert (await user_api.get(STATUS)).json() == {"enabled": False, "recovery_codes_left": 0}
    assert await recovery_rows(runtime, alice.user.id) == []
    row = await user_row(runtime, alice.user.id)
    assert (row.totp_secret_sealed, row.totp_last_step) == (None, None)
    login = await user_api.post(LOGIN, json={"username": "alice", "password": alice.password})
    assert "token" in login.json()
    assert len(await activity_events(runtime, alice.user.id, "account.2fa.disabled")) == 1


async def test_disabling_ends_every_other_session(user_api: Api, alice: Account) -> None:
    current = await user_api.login(alice)
    enrolled = await enable_two_factor(user_api, alice)
    other = await login_with_code(user_api, alice, enrolled.recovery_codes[0])
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 200
    assert (await user_api.post(DISABLE, json={"password": alice.password}, token=current)).status_code == 204
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 401
    assert (await user_api.get(ACCOUNT, token=current)).status_code == 200


async def test_disabling_when_not_enabled_is_a_conflict(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    assert (await user_api.post(DISABLE, json={"password": alice.password})).status_code == 409


async def test_admin_reset_turns_two_factor_off(
    user_api: Api, admin_api: Api, alice: Account, admin: Account, runtime: Runtime
) -> None:
    session = await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    await admin_api.login(admin)
    response = await admin_api.post(f"/api/v1/admin/users/{alice.user.id}/reset-two-factor")
    assert response.status_code == 204
    assert await recovery_rows(runtime, alice.user.id) == []
    assert (await user_row(runtime, alice.user.id)).totp_secret_sealed is None
    assert (await user_api.get(ACCOUNT, token=session)).status_code == 401
    login = await user_api.post(LOGIN, json={"username": "alice", "password": alice.password})
    assert login.status_code == 200
    assert "token" in login.json()
    assert len(await activity_events(runtime, alice.user.id, "admin.user.2fa_reset")) == 1


async def test_admin_reset_is_not_on_the_user_port(user_api: Api, alice: Account, admin: Account) -> None:
    await user_api.login(admin)
    response = await user_api.post(f"/api/v1/admin/users/{alice.user.id}/reset-two-factor")
    assert response.status_code == 404


async def test_admin_reset_is_for_administrators_only(admin_api: Api, alice: Account, make_account: Any) -> None:
    bob: Account = await make_account("bob")
    await admin_api.login(bob)
    response = await admin_api.post(f"/api/v1/admin/users/{alice.user.id}/reset-two-factor")
    assert response.status_code == 403
