"""A short-lived, in-process cache of verified credentials, so a read costs no database round trip.

An entry maps a credential (access token or API key) to what the database said about it. Entries live at most
`auth_cache_seconds`, and every change this process makes to a user, their sessions or their keys drops that
user's entries at once, so revocation through the API is immediate. A change made by another process (the
CLI, another API worker) is seen within `auth_cache_seconds`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hostplane.auth.models import User
from hostplane.clock import Clock, SystemClock

MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class CachedCredential:
    user: User
    valid_until: dt.datetime
    """Token or session expiry, whichever comes first (API keys: their expiry, or far future)."""
    session_id: str | None = None
    api_key_identifier: str | None = None
    scopes: tuple[str, ...] = ()
    allowed_ips: tuple[str, ...] = ()
    api_key_expires_at: dt.datetime | None = None
    api_key_last_used_at: dt.datetime | None = None
    two_factor_setup_required: bool = False
    """A session of an account without two-factor while the panel's two-factor policy is on."""
    cached_at: float = 0.0


class CredentialCache:
    def __init__(self, ttl_seconds: float, clock: Clock | None = None) -> None:
        self._ttl = ttl_seconds
        self._clock = clock or SystemClock()
        self._entries: dict[str, CachedCredential] = {}
        self._by_user: dict[int, set[str]] = {}
        self._generation = 0
        self._loading: dict[str, asyncio.Future[CachedCredential]] = {}

    @property
    def generation(self) -> int:
        """Read before a database lookup and hand to put(): a lookup that raced with a change is not cached."""
        return self._generation

    def get(self, credential: str, now: dt.datetime) -> CachedCredential | None:
        entry = self._entries.get(credential)
        if entry is None:
            return None
        if self._clock.monotonic() - entry.cached_at > self._ttl or entry.valid_until <= now:
            self._drop(credential)
            return None
        return entry

    async def get_or_load(
        self,
        credential: str,
        now: dt.datetime,
        load: Callable[[str, dt.datetime], Awaitable[CachedCredential]],
    ) -> CachedCredential:
        """The cached entry, or one load shared by every request that misses at the same moment (so a burst
        of requests after the TTL ends costs one query, not one per connection)."""
        entry = self.get(credential, now)
        if entry is not None:
            return entry
        pending = self._loading.get(credential)
        if pending is None:
            pending = asyncio.ensure_future(self._load(credential, now, load))
            self._loading[credential] = pending
            pending.add_done_callback(lambda _: self._loading.pop(credential, None))
        return await asyncio.shield(pending)

    async def _load(
        self, credential: str, now: dt.datetime, load: Callable[[str, dt.datetime], Awaitable[CachedCredential]]
    ) -> CachedCredential:
        generation = self._generation
        entry = await load(credential, now)
        self.put(credential, entry, generation)
        return entry

    def put(self, credential: str, entry: CachedCredential, generation: int) -> None:
        if self._ttl <= 0 or generation != self._generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self.clear()
        self._entries[credential] = dataclasses.replace(entry, cached_at=self._clock.monotonic())
        self._by_user.setdefault(entry.user.id, set()).add(credential)

    def note_use(self, credential: str, when: dt.datetime) -> None:
        """Remember that an API key's last use was recorded, so the next request does not record it again."""
        entry = self._entries.get(credential)
        if entry is not None:
            self._entries[credential] = dataclasses.replace(entry, api_key_last_used_at=when)

    def forget_user(self, user_id: int) -> None:
        """Drop every cached credential of the user (after any change to the user, its sessions or keys)."""
        self._generation += 1
        for credential in self._by_user.pop(user_id, set()):
            self._entries.pop(credential, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._by_user.clear()

    def _drop(self, credential: str) -> None:
        entry = self._entries.pop(credential, None)
        if entry is not None:
            self._by_user.get(entry.user.id, set()).discard(credential)
