"""Password rules and argon2id hashing, off the event loop.

Hashing runs in a small dedicated pool of threads (argon2-cffi releases the GIL), so a storm of logins
queues behind itself instead of stalling every other request.
"""

from __future__ import annotations

import secrets
import unicodedata
from functools import cache
from importlib import resources

import anyio
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from hostplane.errors import InvalidInput
from hostplane.settings import Settings


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("hostplane").joinpath("data/common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line and not line.startswith("#"))


def has_control_chars(value: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in value)


def check_password_policy(password: str, settings: Settings, *, field: str = "password", username: str = "") -> None:
    """Refuse passwords that are too short, too long, common, or carry control characters; never truncate."""
    if has_control_chars(password):
        raise InvalidInput.on(field, "The password must not contain control characters.", "regex")
    if len(password) < settings.password_min_length:
        raise InvalidInput.on(field, f"The password must be at least {settings.password_min_length} characters.", "min")
    if len(password) > settings.password_max_length:
        raise InvalidInput.on(
            field, f"The password may not be more than {settings.password_max_length} characters.", "max"
        )
    lowered = password.lower()
    if lowered in common_passwords() or (username and lowered == username.lower()):
        raise InvalidInput.on(field, "This password is too common; choose another.", "uncompromised")


class PasswordHashing:
    """argon2id with the configured cost; verify() also says whether the stored hash should be renewed."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._limiter = anyio.CapacityLimiter(settings.hash_threads)
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    async def verify(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        """(matches, needs_rehash). With no stored hash, burns the same time against a dummy and fails."""
        target = stored_hash or self._dummy_hash
        ok = await anyio.to_thread.run_sync(self._verify_sync, target, password, limiter=self._limiter)
        if stored_hash is None or not ok:
            return False, False
        return True, self._hasher.check_needs_rehash(stored_hash)

    def _verify_sync(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
