"""Throttling of guessing: consecutive failures per account and per address buy growing delays.

Delays double from `throttle_base_seconds` up to `throttle_max_seconds` and never become a permanent lock,
so an attacker can slow the admin down but never lock the admin out. Counters decay after a quiet hour.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math

from sqlalchemy import case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.auth.models import ThrottleCounter
from hostplane.dbutil import upsert
from hostplane.errors import TooManyAttempts
from hostplane.settings import Settings

QUIET_RESET = dt.timedelta(hours=1)
ADDRESS_ALLOWANCE_FACTOR = 4
"""An address (maybe a NAT of many users) gets more free failures than a single account."""


def account_key(username: str) -> str:
    return f"user:{username.strip().lower()[:150]}"


def address_key(ip: str) -> str:
    """IPv6 clients are counted per /64, since one host usually holds a whole /64; an IPv4-mapped IPv6
    address is its IPv4 address (else every IPv4 client of a dual-stack socket would share one /64)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return f"ip:{ip[:64]}"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"ip:{address.ipv4_mapped}"
    if isinstance(address, ipaddress.IPv6Address):
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


class Throttle:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _free_failures(self, key: str) -> int:
        factor = ADDRESS_ALLOWANCE_FACTOR if key.startswith("ip:") else 1
        return self._settings.throttle_free_failures * factor

    def delay_after(self, key: str, failures: int) -> float:
        over = failures - self._free_failures(key)
        if over <= 0:
            return 0.0
        delay: float = self._settings.throttle_base_seconds * 2.0 ** min(over - 1, 30)
        return min(delay, self._settings.throttle_max_seconds)

    async def check(self, db: AsyncSession, keys: list[str], now: dt.datetime) -> None:
        """Raise TooManyAttempts while any of the keys is waiting out a delay."""
        rows = await db.scalars(
            select(ThrottleCounter.blocked_until).where(
                ThrottleCounter.key.in_(keys), ThrottleCounter.blocked_until > now
            )
        )
        waits = [(until - now).total_seconds() for until in rows if until is not None]
        if waits:
            raise TooManyAttempts(
                "Too many failed attempts; wait before trying again.", retry_after=math.ceil(max(waits))
            )

    async def record_failure(self, db: AsyncSession, keys: list[str], now: dt.datetime) -> None:
        for key in keys:
            statement = upsert(db, ThrottleCounter).values(key=key, failures=1, updated_at=now)
            statement = statement.on_conflict_do_update(
                index_elements=[ThrottleCounter.key],
                set_={
                    "failures": case(
                        (ThrottleCounter.updated_at < now - QUIET_RESET, 1), else_=ThrottleCounter.failures + 1
                    ),
                    "updated_at": now,
                },
            ).returning(ThrottleCounter.failures)
            failures = (await db.execute(statement)).scalar_one()
            delay = self.delay_after(key, failures)
            if delay:
                await db.execute(
                    update(ThrottleCounter)
                    .where(ThrottleCounter.key == key)
                    .values(blocked_until=now + dt.timedelta(seconds=delay))
                )

    async def reset(self, db: AsyncSession, keys: list[str]) -> None:
        await db.execute(delete(ThrottleCounter).where(ThrottleCounter.key.in_(keys)))
