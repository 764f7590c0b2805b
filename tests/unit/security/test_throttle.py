"""Specification of hostplane.security.throttle: the delay schedule, the counting keys and the counters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from hostplane.auth.models import ThrottleCounter
from hostplane.errors import TooManyAttempts
from hostplane.runtime import Runtime, build_runtime
from hostplane.security.throttle import ADDRESS_ALLOWANCE_FACTOR, QUIET_RESET, Throttle, account_key, address_key
from hostplane.settings import Settings

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
ACCOUNT = account_key("alice")
ADDRESS = address_key("198.51.100.7")


def make_throttle(**overrides: Any) -> Throttle:
    values: dict[str, Any] = {"throttle_free_failures": 5, "throttle_base_seconds": 1.0, "throttle_max_seconds": 900.0}
    values.update(overrides)
    return Throttle(Settings(**values))


# --- the delay schedule ----------------------------------------------------------------------------


def test_an_account_has_free_failures_before_any_delay() -> None:
    throttle = make_throttle()
    assert [throttle.delay_after(ACCOUNT, n) for n in range(6)] == [0.0] * 6


def test_delays_start_at_the_base_and_double() -> None:
    throttle = make_throttle(throttle_base_seconds=1.5)
    assert [throttle.delay_after(ACCOUNT, n) for n in range(6, 11)] == [1.5, 3.0, 6.0, 12.0, 24.0]


def test_delays_stop_growing_at_the_cap() -> None:
    throttle = make_throttle(throttle_max_seconds=900.0)
    assert throttle.delay_after(ACCOUNT, 15) == 512.0
    assert throttle.delay_after(ACCOUNT, 16) == 900.0
    assert throttle.delay_after(ACCOUNT, 17) == 900.0
    assert throttle.delay_after(ACCOUNT, 10**9) == 900.0


def test_the_default_cap_is_far_below_the_quiet_hour_so_no_lock_is_permanent() -> None:
    settings = Settings()
    assert settings.throttle_max_seconds < QUIET_RESET.total_seconds()
    assert Throttle(settings).delay_after(account_key("root"), 10**9) == settings.throttle_max_seconds


def test_an_address_gets_more_free_failures_than_an_account() -> None:
    throttle = make_throttle(throttle_free_failures=5)
    free = 5 * ADDRESS_ALLOWANCE_FACTOR
    assert free > 5
    assert throttle.delay_after(ADDRESS, free) == 0.0
    assert throttle.delay_after(ADDRESS, free + 1) == 1.0
    assert throttle.delay_after(ADDRESS, free + 2) == 2.0


# --- the counting keys -----------------------------------------------------------------------------


def test_account_keys_ignore_case_and_surrounding_space() -> None:
    assert account_key("  Alice ") == account_key("alice") == "user:alice"


def test_account_and_address_keys_never_collide() -> None:
    assert account_key("ip:198.51.100.7") != address_key("198.51.100.7")


def test_account_keys_are_bounded() -> None:
    assert len(account_key("x" * 10_000)) <= 160


def test_each_ipv4_address_is_counted_on_its_own() -> None:
    assert address_key("198.51.100.7") == "ip:198.51.100.7"
    assert address_key("198.51.100.7") != address_key("198.51.100.8")


def test_ipv6_addresses_are_grouped_by_their_64_bit_prefix() -> None:
    assert address_key("2001:db8:1:2::1") == "ip:2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == address_key("2001:db8:1:2::1")
    assert address_key("2001:DB8:1:2:0:0:0:9") == address_key("2001:db8:1:2::1")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")


def test_an_ipv4_mapped_ipv6_address_counts_as_its_ipv4_address() -> None:
    assert address_key("::ffff:198.51.100.7") == address_key("198.51.100.7")
    assert address_key("::ffff:198.51.100.7") != address_key("::ffff:198.51.100.8")


def test_an_unparsable_address_gets_a_bounded_key_of_its_own() -> None:
    assert address_key("testclient") == "ip:testclient"
    assert len(address_key("z" * 1000)) <= 160


# --- the counters in the database ------------------------------------------------------------------


async def counter(runtime: Runtime, key: str) -> ThrottleCounter | None:
    async with runtime.reading() as db:
        return await db.scalar(select(ThrottleCounter).where(ThrottleCounter.key == key))


async def fail(runtime: Runtime, throttle: Throttle, times: int, now: dt.datetime, keys: list[str]) -> None:
    for _ in range(times):
        async with runtime.writing() as db:
            await throttle.record_failure(db, keys, now)


async def check(runtime: Runtime, throttle: Throttle, keys: list[str], now: dt.datetime) -> None:
    async with runtime.reading() as db:
        await throttle.check(db, keys, now)


async def test_failures_count_up_per_key(runtime: Runtime) -> None:
    await fail(runtime, runtime.throttle, 3, T0, [ACCOUNT, ADDRESS])
    for key in (ACCOUNT, ADDRESS):
        row = await counter(runtime, key)
        assert row is not None
        assert row.failures == 3
        assert row.blocked_until is None


async def test_free_failures_never_block(runtime: Runtime) -> None:
    free = runtime.settings.throttle_free_failures
    await fail(runtime, runtime.throttle, free, T0, [ACCOUNT])
    await check(runtime, runtime.throttle, [ACCOUNT], T0)


async def test_the_failure_after_the_free_ones_blocks_for_the_delay(settings_factory: Any) -> None:
    rt = build_runtime(settings_factory(throttle_base_seconds=30.0))
    try:
        await fail(rt, rt.throttle, rt.settings.throttle_free_failures + 1, T0, [ACCOUNT])
        row = await counter(rt, ACCOUNT)
        assert row is not None
        assert row.blocked_until == T0 + dt.timedelta(seconds=30)
        with pytest.raises(TooManyAttempts) as caught:
            await check(rt, rt.throttle, [ACCOUNT], T0 + dt.timedelta(seconds=10.5))
        assert caught.value.retry_after == 20
        await check(rt, rt.throttle, [ACCOUNT], T0 + dt.timedelta(seconds=30))
    finally:
        await rt.close()


async def test_a_block_on_any_one_key_blocks_the_attempt(runtime: Runtime) -> None:
    await fail(runtime, runtime.throttle, runtime.settings.throttle_free_failures + 1, T0, [ACCOUNT])
    with pytest.raises(TooManyAttempts):
        await check(runtime, runtime.throttle, [address_key("192.0.2.1"), ACCOUNT], T0)
    await check(runtime, runtime.throttle, [account_key("bob"), address_key("192.0.2.1")], T0)


async def test_retry_after_is_at_least_one_second(runtime: Runtime) -> None:
    await fail(runtime, runtime.throttle, runtime.settings.throttle_free_failures + 1, T0, [ACCOUNT])
    with pytest.raises(TooManyAttempts) as caught:
        await check(runtime, runtime.throttle, [ACCOUNT], T0 + dt.timedelta(milliseconds=999))
    assert caught.value.retry_after == 1


async def test_counters_decay_after_a_quiet_hour(runtime: Runtime) -> None:
    throttle = runtime.throttle
    await fail(runtime, throttle, runtime.settings.throttle_free_failures + 3, T0, [ACCOUNT])
    later = T0 + QUIET_RESET + dt.timedelta(seconds=1)
    await fail(runtime, throttle, 1, later, [ACCOUNT])
    row = await counter(runtime, ACCOUNT)
    assert row is not None
    assert row.failures == 1
    await check(runtime, throttle, [ACCOUNT], later)


async def test_counters_keep_counting_within_the_hour(runtime: Runtime) -> None:
    throttle = runtime.throttle
    free = runtime.settings.throttle_free_failures
    await fail(runtime, throttle, free, T0, [ACCOUNT])
    later = T0 + QUIET_RESET - dt.timedelta(seconds=1)
    await fail(runtime, throttle, 1, later, [ACCOUNT])
    row = await counter(runtime, ACCOUNT)
    assert row is not None
    assert row.failures == free + 1
    with pytest.raises(TooManyAttempts):
        await check(runtime, throttle, [ACCOUNT], later)


async def test_reset_forgets_the_failures_of_the_given_keys_only(runtime: Runtime) -> None:
    await fail(runtime, runtime.throttle, 2, T0, [ACCOUNT, ADDRESS])
    async with runtime.writing() as db:
        await runtime.throttle.reset(db, [ACCOUNT])
    assert await counter(runtime, ACCOUNT) is None
    address_row = await counter(runtime, ADDRESS)
    assert address_row is not None
    assert address_row.failures == 2
