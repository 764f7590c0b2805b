"""POST /api/v1/auth/login: who may log in, what an attacker learns from failing (nothing), what is logged,
how hashes follow the argon2 parameters, and how guessing is slowed down without ever locking anyone out."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from sqlalchemy import select, update

from hostplane.activity.events import Event
from hostplane.activity.log import Actor
from hostplane.activity.models import ActivityEntry
from hostplane.app import create_app
from hostplane.auth.models import ThrottleCounter, User
from hostplane.auth.tokens import AUDIENCE
from hostplane.clock import ManualClock
from hostplane.runtime import Runtime, build_runtime
from hostplane.security.throttle import ADDRESS_ALLOWANCE_FACTOR, account_key
from hostplane.users.service import UserAdminService
from tests.conftest import PASSWORD, PEER, Account, Api

LOGIN = "/api/v1/auth/login"
WRONG = "Wrong-horse-battery-9"
MakeApi = Callable[..., Awaitable[tuple[Runtime, Api]]]


@pytest.fixture
async def make_api(settings_factory: Callable[..., Any], clock: ManualClock) -> AsyncIterator[MakeApi]:
    """A user-port client on a runtime of its own settings, over the test's database and on the test's clock."""
    opened: list[tuple[Runtime, Api]] = []

    async def make(**overrides: Any) -> tuple[Runtime, Api]:
        rt = build_runtime(settings_factory(**overrides), clock=clock)
        api = Api(create_app(rt, "user"))
        opened.append((rt, api))
        return rt, api

    yield make
    for rt, api in opened:
        await api.aclose()
        await rt.close()


async def login(api: Api, username: str, password: str) -> httpx.Response:
    return await api.post(LOGIN, json={"username": username, "password": password})


async def stored_hash(runtime: Runtime, user_id: int) -> str:
    async with runtime.reading() as db:
        value = await db.scalar(select(User.password_hash).where(User.id == user_id))
    assert value is not None
    return value


async def entries(runtime: Runtime, event: str | None = None) -> list[ActivityEntry]:
    async with runtime.reading() as db:
        query = select(ActivityEntry).order_by(ActivityEntry.id)
        if event is not None:
            query = query.where(ActivityEntry.event == event)
        return list(await db.scalars(query))


async def disable(runtime: Runtime, account: Account, disabled: bool = True) -> None:
    await UserAdminService(runtime).set_disabled(Actor(None, "test"), account.user.id, disabled)


async def end_all_delays(runtime: Runtime) -> None:
    """Let time pass for the throttle: every running delay is over."""
    async with runtime.writing() as db:
        await db.execute(
            update(ThrottleCounter)
            .where(ThrottleCounter.blocked_until.is_not(None))
            .values(blocked_until=runtime.clock.now() - dt.timedelta(seconds=1))
        )


def assert_throttled(response: httpx.Response) -> int:
    """A 429 problem with a Retry-After in whole seconds; returns that delay."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 429
    assert body["code"] == "too_many_attempts"
    assert "token" not in body
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit()
    assert int(retry_after) >= 1
    return int(retry_after)


# --- who may log in --------------------------------------------------------------------------------


async def test_login_by_username_returns_a_bearer_token(user_api: Api, alice: Account, runtime: Runtime) -> None:
    response = await login(user_api, "alice", PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["user_id"] == alice.user.id
    claims = jwt.decode(body["token"], runtime.keyring.signing_key, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["sub"] == str(alice.user.id)
    assert claims["exp"] - claims["iat"] == 3600
    assert (await user_api.get("/api/v1/account", token=body["token"])).json()["username"] == "alice"


async def test_login_by_email_address(user_api: Api, alice: Account) -> None:
    response = await login(user_api, "alice@example.com", PASSWORD)
    assert response.status_code == 200
    assert response.json()["user_id"] == alice.user.id


async def test_the_username_and_email_are_matched_in_any_case(user_api: Api, alice: Account) -> None:
    assert (await login(user_api, "Alice", PASSWORD)).status_code == 200
    assert (await login(user_api, " ALICE@Example.COM ", PASSWORD)).status_code == 200


async def test_the_password_is_matched_exactly(user_api: Api, alice: Account) -> None:
    assert (await login(user_api, "alice", PASSWORD.upper())).status_code == 401
    assert (await login(user_api, "alice", PASSWORD + " ")).status_code == 401
    assert (await login(user_api, "alice", PASSWORD[:-1])).status_code == 401


async def test_the_token_lifetime_follows_the_setting(make_api: MakeApi, alice: Account) -> None:
    rt, api = await make_api(access_token_seconds=600)
    body = (await login(api, "alice", PASSWORD)).json()
    assert body["expires_in"] == 600
    claims = jwt.decode(body["token"], rt.keyring.signing_key, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["exp"] - claims["iat"] == 600


async def test_a_disabled_user_cannot_log_in(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await disable(runtime, alice)
    response = await login(user_api, "alice", PASSWORD)
    assert response.status_code == 401
    assert "token" not in response.json()
    await disable(runtime, alice, disabled=False)
    assert (await login(user_api, "alice", PASSWORD)).status_code == 200


# --- enumeration -----------------------------------------------------------------------------------


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    user_api: Api, alice: Account, make_account: Callable[..., Any], runtime: Runtime
) -> None:
    bob: Account = await make_account("bob")
    await disable(runtime, bob)
    answers = [
        await login(user_api, "alice", WRONG),
        await login(user_api, "nobody", WRONG),
        await login(user_api, "nobody@example.com", WRONG),
        await login(user_api, "bob", PASSWORD),  # disabled: the right password tells nothing either
    ]
    first = answers[0]
    assert first.status_code == 401
    assert first.headers["content-type"] == "application/problem+json"
    assert first.json()["code"] == "invalid_credentials"
    for other in answers[1:]:
        assert other.status_code == first.status_code
        assert other.content == first.content
        assert other.headers["content-type"] == first.headers["content-type"]
        assert other.headers.get("www-authenticate") == first.headers.get("www-authenticate")


async def test_an_unknown_user_costs_one_argon2_verify_like_a_wrong_password(
    user_api: Api, alice: Account, argon2_verifications: list[str]
) -> None:
    verified = argon2_verifications
    assert (await login(user_api, "alice", WRONG)).status_code == 401
    assert len(verified) == 1
    assert (await login(user_api, "nobody", WRONG)).status_code == 401
    assert len(verified) == 2
    assert verified[1].startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert verified[1] != verified[0]


async def test_an_unknown_user_takes_as_long_as_a_wrong_password(make_api: MakeApi) -> None:
    """With costly argon2 parameters both failures take at least about one real verify, and about as long."""
    time_cost, memory_kib = 3, 32768
    rt, api = await make_api(argon2_time_cost=time_cost, argon2_memory_kib=memory_kib, throttle_free_failures=100)
    await UserAdminService(rt).create_user(
        Actor(None, "test"), username="carol", email="carol@example.com", password=PASSWORD
    )
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
    reference = hasher.hash(PASSWORD)

    def one_verify() -> float:
        started = time.perf_counter()
        with pytest.raises(VerifyMismatchError):
            hasher.verify(reference, WRONG)
        return time.perf_counter() - started

    one_verify_cost = min(one_verify() for _ in range(3))

    async def timed(username: str) -> float:
        started = time.perf_counter()
        response = await login(api, username, WRONG)
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    wrong_password, unknown_user = [], []
    for attempt in range(5):
        wrong_password.append(await timed("carol"))
        unknown_user.append(await timed(f"nobody{attempt}"))
    fastest_wrong, fastest_unknown = min(wrong_password), min(unknown_user)
    assert fastest_wrong > 0.5 * one_verify_cost
    assert fastest_unknown > 0.5 * one_verify_cost
    assert fastest_unknown > 0.5 * fastest_wrong
    assert fastest_wrong > 0.5 * fastest_unknown


# --- the activity log ------------------------------------------------------------------------------


async def test_a_successful_login_is_logged_with_the_address(user_api: Api, alice: Account, runtime: Runtime) -> None:
    response = await login(user_api.from_peer("198.51.100.23"), "alice", PASSWORD)
    assert response.status_code == 200
    (entry,) = await entries(runtime, Event.LOGIN_OK)
    assert entry.user_id == alice.user.id
    assert entry.actor_id == alice.user.id
    assert entry.ip == "198.51.100.23"
    assert entry.api_key is None
    assert entry.properties == {"method": "password"}


async def test_failed_logins_are_logged_with_the_address(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await login(user_api, "alice", WRONG)
    await login(user_api.from_peer("2001:db8::5"), "nobody", WRONG)
    known, unknown = await entries(runtime, Event.LOGIN_FAILED)
    assert (known.user_id, known.actor_id, known.ip) == (alice.user.id, None, PEER)
    assert known.properties == {"username": "alice", "reason": "bad_credentials"}
    assert (unknown.user_id, unknown.ip) == (None, "2001:db8::5")
    assert unknown.properties == {"username": "nobody", "reason": "bad_credentials"}


async def test_a_password_typed_into_the_name_field_is_not_logged(user_api: Api, runtime: Runtime) -> None:
    await login(user_api, "S3cret!Pass#word", WRONG)
    (entry,) = await entries(runtime, Event.LOGIN_FAILED)
    assert entry.properties == {"username": "(not a valid name)", "reason": "bad_credentials"}


async def test_a_refused_login_of_a_disabled_user_is_logged_as_such(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await disable(runtime, alice)
    await login(user_api, "alice", PASSWORD)
    (entry,) = await entries(runtime, Event.LOGIN_FAILED)
    assert entry.user_id == alice.user.id
    assert entry.properties["reason"] == "disabled"


async def test_no_password_ever_reaches_the_activity_log(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await login(user_api, "alice", WRONG)
    await login(user_api, "nobody", WRONG)
    await login(user_api, "alice", PASSWORD)
    logged = await entries(runtime)
    assert {entry.event for entry in logged} >= {Event.LOGIN_OK, Event.LOGIN_FAILED}
    for entry in logged:
        text = json.dumps(entry.properties) + repr((entry.event, entry.ip, entry.api_key))
        assert WRONG not in text
        assert PASSWORD not in text


# --- rehash when the argon2 parameters change ------------------------------------------------------


async def test_login_rehashes_the_password_when_argon2_parameters_change(
    make_api: MakeApi, alice: Account, runtime: Runtime
) -> None:
    old = await stored_hash(runtime, alice.user.id)
    assert old.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    _, api = await make_api(argon2_time_cost=2, argon2_memory_kib=2048)

    assert (await login(api, "alice", WRONG)).status_code == 401
    assert await stored_hash(runtime, alice.user.id) == old

    assert (await login(api, "alice", PASSWORD)).status_code == 200
    new = await stored_hash(runtime, alice.user.id)
    assert new != old
    assert new.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert PasswordHasher(time_cost=2, memory_cost=2048).verify(new, PASSWORD)

    assert (await login(api, "alice", PASSWORD)).status_code == 200
    assert await stored_hash(runtime, alice.user.id) == new


async def test_login_keeps_a_hash_made_with_the_current_parameters(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    before = await stored_hash(runtime, alice.user.id)
    assert (await login(user_api, "alice", PASSWORD)).status_code == 200
    assert await stored_hash(runtime, alice.user.id) == before


# --- throttling ------------------------------------------------------------------------------------


async def test_repeated_failures_on_an_account_get_429_with_retry_after(make_api: MakeApi, alice: Account) -> None:
    rt, api = await make_api(throttle_base_seconds=60)
    for _ in range(rt.settings.throttle_free_failures + 1):
        assert (await login(api, "alice", WRONG)).status_code == 401
    retry_after = assert_throttled(await login(api, "alice", WRONG))
    assert 50 <= retry_after <= 60


async def test_the_right_password_is_refused_while_the_account_is_blocked(make_api: MakeApi, alice: Account) -> None:
    rt, api = await make_api(throttle_base_seconds=60)
    for _ in range(rt.settings.throttle_free_failures + 1):
        await login(api, "alice", WRONG)
    assert_throttled(await login(api, "alice", PASSWORD))
    assert_throttled(await login(api, "Alice", PASSWORD))
    assert_throttled(await login(api, "alice@example.com", PASSWORD))


async def test_failures_by_username_and_by_email_count_against_the_same_account(
    make_api: MakeApi, alice: Account
) -> None:
    rt, api = await make_api(throttle_base_seconds=60)
    for attempt in range(rt.settings.throttle_free_failures + 1):
        name = "alice" if attempt % 2 else "Alice@Example.com"
        assert (await login(api.from_peer(f"198.51.100.{attempt + 1}"), name, WRONG)).status_code == 401
    assert_throttled(await login(api.from_peer("192.0.2.200"), "alice@example.com", PASSWORD))
    assert_throttled(await login(api.from_peer("192.0.2.201"), "alice", PASSWORD))


async def test_a_blocked_attempt_is_logged_and_does_not_check_the_password(
    make_api: MakeApi, alice: Account, argon2_verifications: list[str]
) -> None:
    rt, api = await make_api(throttle_base_seconds=60)
    for _ in range(rt.settings.throttle_free_failures + 1):
        await login(api, "alice", WRONG)
    verified = argon2_verifications
    verified.clear()
    assert_throttled(await login(api, "alice", PASSWORD))
    assert verified == []
    (entry,) = await entries(rt, Event.LOGIN_THROTTLED)
    assert entry.ip == PEER
    assert entry.properties == {"username": "alice"}


async def test_failures_from_many_addresses_on_one_account_block_that_account(
    make_api: MakeApi, alice: Account, make_account: Callable[..., Any]
) -> None:
    rt, api = await make_api(throttle_base_seconds=60)
    await make_account("bob")
    for attempt in range(rt.settings.throttle_free_failures + 1):
        assert (await login(api.from_peer(f"198.51.100.{attempt + 1}"), "alice", WRONG)).status_code == 401
    fresh = api.from_peer("192.0.2.200")
    assert_throttled(await login(fresh, "alice", PASSWORD))
    assert (await login(fresh, "bob", PASSWORD)).status_code == 200


async def test_failures_from_one_address_across_many_accounts_block_that_address(
    make_api: MakeApi, alice: Account
) -> None:
    rt, api = await make_api(throttle_base_seconds=60)
    allowance = rt.settings.throttle_free_failures * ADDRESS_ALLOWANCE_FACTOR
    for attempt in range(allowance + 1):
        assert (await login(api, f"ghost{attempt}", WRONG)).status_code == 401
    assert_throttled(await login(api, "alice", PASSWORD))
    assert (await login(api.from_peer("192.0.2.200"), "alice", PASSWORD)).status_code == 200


async def test_ipv6_addresses_of_one_64_prefix_are_throttled_together(make_api: MakeApi, alice: Account) -> None:
    rt, api = await make_api(throttle_base_seconds=60)
    allowance = rt.settings.throttle_free_failures * ADDRESS_ALLOWANCE_FACTOR
    for attempt in range(allowance + 1):
        peer = api.from_peer(f"2001:db8:5:6::{attempt + 1:x}")
        assert (await login(peer, f"ghost{attempt}", WRONG)).status_code == 401
    assert_throttled(await login(api.from_peer("2001:db8:5:6:ffff::1"), "alice", PASSWORD))
    assert (await login(api.from_peer("2001:db8:5:7::1"), "alice", PASSWORD)).status_code == 200


async def test_delays_double_with_each_further_failure(make_api: MakeApi, alice: Account) -> None:
    rt, api = await make_api(throttle_base_seconds=60, throttle_max_seconds=900)
    for _ in range(rt.settings.throttle_free_failures + 1):
        await login(api, "alice", WRONG)
    delays = [assert_throttled(await login(api, "alice", WRONG))]
    for _ in range(3):
        await end_all_delays(rt)
        assert (await login(api, "alice", WRONG)).status_code == 401
        delays.append(assert_throttled(await login(api, "alice", WRONG)))
    for delay, expected in zip(delays, [60, 120, 240, 480], strict=True):
        assert expected - 10 <= delay <= expected


async def test_a_successful_login_starts_the_account_count_over(make_api: MakeApi, alice: Account) -> None:
    rt, api = await make_api(throttle_base_seconds=60)
    free = rt.settings.throttle_free_failures
    for _ in range(free):
        assert (await login(api, "alice", WRONG)).status_code == 401
    assert (await login(api, "alice", PASSWORD)).status_code == 200
    for _ in range(free + 1):
        assert (await login(api, "alice", WRONG)).status_code == 401
    assert_throttled(await login(api, "alice", WRONG))


async def test_the_admin_is_never_locked_out_for_good(make_api: MakeApi, admin: Account) -> None:
    rt, api = await make_api(throttle_base_seconds=60, throttle_max_seconds=900)
    for _ in range(rt.settings.throttle_free_failures + 1):
        await login(api, "root", WRONG)
    async with rt.writing() as db:  # an attacker has been guessing for a long time
        await db.execute(
            update(ThrottleCounter).where(ThrottleCounter.key == account_key("root")).values(failures=100_000)
        )
    await end_all_delays(rt)
    assert (await login(api.from_peer("192.0.2.66"), "root", WRONG)).status_code == 401
    assert assert_throttled(await login(api, "root", PASSWORD)) <= 900

    await end_all_delays(rt)
    assert (await login(api.from_peer("192.0.2.99"), "root", PASSWORD)).status_code == 200
    async with rt.reading() as db:
        assert await db.get(ThrottleCounter, account_key("root")) is None


async def test_login_works_again_once_the_delay_has_passed(make_api: MakeApi, admin: Account) -> None:
    rt, api = await make_api(throttle_base_seconds=2, throttle_max_seconds=2)
    for _ in range(rt.settings.throttle_free_failures + 1):
        await login(api, "root", WRONG)
    retry_after = assert_throttled(await login(api, "root", PASSWORD))
    assert retry_after <= 2
    api.clock.advance(retry_after + 0.1)
    assert (await login(api, "root", PASSWORD)).status_code == 200
