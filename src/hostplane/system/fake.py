"""Recording fakes of the system drivers, for unit tests of the services' logic (never the only test of a feature)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hostplane.system.ssh import SystemUserError, authorized_keys_content, linux_name


@dataclass
class RecordingSystemUsers:
    """Remembers the accounts and keys the services asked for; `fail_on` makes the named operations fail."""

    home_root: Path = Path("/srv/hostplane/home")
    users: set[str] = field(default_factory=set)
    """Panel usernames whose Linux account exists."""
    keys: dict[str, list[str]] = field(default_factory=dict)
    """The authorized_keys lines last written, per panel username."""
    calls: list[tuple[str, str]] = field(default_factory=list)
    """(operation, username) in call order."""
    fail_on: set[str] = field(default_factory=set)
    """Operations ('ensure_user', 'remove_user', 'write_authorized_keys') that raise SystemUserError."""

    def home_of(self, username: str) -> Path:
        return self.home_root / linux_name(username)

    def _call(self, operation: str, username: str) -> None:
        self.calls.append((operation, username))
        if operation in self.fail_on:
            raise SystemUserError(f"{operation} failed (fake)")

    async def ensure_user(self, username: str) -> Path:
        self._call("ensure_user", username)
        self.users.add(username)
        return self.home_of(username)

    async def remove_user(self, username: str) -> None:
        self._call("remove_user", username)
        self.users.discard(username)
        self.keys.pop(username, None)

    async def write_authorized_keys(self, username: str, keys: Sequence[str]) -> None:
        content = authorized_keys_content(keys)  # the real driver's validation, so a bad line fails here too
        self._call("write_authorized_keys", username)
        if username not in self.users:
            if not keys:
                return
            raise SystemUserError(f"no Linux account for {username} (fake)")
        self.keys[username] = content.decode().splitlines()
