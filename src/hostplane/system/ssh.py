"""Linux accounts for hosting users and their `authorized_keys`: the only code that runs useradd/userdel.

Each hosting user `alice` maps to the Linux account `hp-alice` (see `linux_name`). The fixed prefix means a panel
name can never be, or collide with, `root`, `daemon`, `postfix`, `www-data` or any other account the host has:
the panel's USERNAME grammar admits `root` or `postfix`, and without a prefix such a panel user would own (and
write the keys of) the real system account. An account is only ever used if it carries our marker in its GECOS
field (`Hostplane user <panel name>`) and has the expected home, so a hand-made `hp-bob` is never adopted.

The home folders live under `system_users_home` (Settings), one root-owned 0755 folder whose ancestors are all
root-owned and not group/world-writable: sshd (StrictModes) reads `authorized_keys` with the user's own
privileges, so the path must be traversable by the user, and nobody but root may be able to swap a folder in it.
That is why the default is not inside the state folder: the state folder is private (0700) and holds the
database and the key file.

`authorized_keys` is rewritten whole from the database on every change (the panel is the source of truth, so
hand-made lines are dropped). The user owns their home and may have replaced `.ssh` or `authorized_keys` with a
symbolic link to trick root into writing or chown-ing another file; every step therefore works on file
descriptors opened with O_NOFOLLOW relative to the previous folder's descriptor (openat), chowns the open
temporary file (fchown) before renaming it into place, and never follows a link: a symlinked `.ssh` is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import pwd
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from hostplane.errors import HostplaneError
from hostplane.sshkeys import SshKeyError, parse_public_key
from hostplane.system.runner import CommandError, run

log = logging.getLogger("hostplane.system.ssh")

LINUX_PREFIX = "hp-"
LINUX_NAME_MAX = 32
"""useradd on Debian refuses longer names (and utmp keeps 32 bytes)."""
GECOS_MARKER = "Hostplane user "
"""Followed by the panel username in the GECOS field (which cannot hold ':', the passwd separator)."""
AUTHORIZED_KEYS = "authorized_keys"
SHELL = "/bin/bash"
HOME_MODE = 0o711
"""Traversable (the user's nginx docroots live inside), not listable by others, writable only by the owner."""


class SystemUserError(HostplaneError):
    """A Linux account or its keys could not be set up; the details are logged for the admin."""

    code = "system_user_failed"
    status = 500
    title = "Provisioning failed"


def linux_name(username: str) -> str:
    """The Linux account of a panel user: `hp-<name>`, shortened with a hash when it would pass 32 characters."""
    name = LINUX_PREFIX + username
    if len(name) <= LINUX_NAME_MAX:
        return name
    digest = hashlib.sha256(username.encode()).hexdigest()[:8]
    return f"{LINUX_PREFIX}{username[: LINUX_NAME_MAX - len(LINUX_PREFIX) - 9]}-{digest}"


def authorized_keys_content(keys: Sequence[str]) -> bytes:
    """One bare `type base64` line per key, re-validated here: no option prefix, no extra line can get in."""
    lines: list[str] = []
    for key in keys:
        try:
            parsed = parse_public_key(key)
        except SshKeyError as exc:
            raise SystemUserError("A stored SSH key is not valid; nothing was written.") from exc
        lines.append(parsed.public_key)
    return "".join(f"{line}\n" for line in dict.fromkeys(lines)).encode("ascii")


class SystemUsers(Protocol):
    """What the services need from the host: an account per hosting user and its authorized keys."""

    def home_of(self, username: str) -> Path: ...

    async def ensure_user(self, username: str) -> Path:
        """Create the account if missing (idempotent); returns its home folder."""
        ...

    async def remove_user(self, username: str) -> None:
        """Delete the account and its home folder, if it exists and is ours."""
        ...

    async def account_ids(self, username: str) -> tuple[int, int] | None:
        """(uid, gid) of the user's account if it exists and is ours; None otherwise (never creates one)."""
        ...

    async def write_authorized_keys(self, username: str, keys: Sequence[str]) -> None:
        """Replace the account's authorized_keys with exactly these public keys (empty: no key logs in; an
        account that does not exist needs no empty file)."""
        ...


class DisabledSystemUsers:
    """`manage_system_users = false`: the panel stores keys but touches no Linux account."""

    def __init__(self, home_root: Path) -> None:
        self.home_root = home_root

    def home_of(self, username: str) -> Path:
        return self.home_root / linux_name(username)

    async def ensure_user(self, username: str) -> Path:
        return self.home_of(username)

    async def remove_user(self, username: str) -> None:
        return None

    async def account_ids(self, username: str) -> tuple[int, int] | None:
        return None

    async def write_authorized_keys(self, username: str, keys: Sequence[str]) -> None:
        return None


class LinuxSystemUsers:
    """Real Linux accounts (needs root): useradd/userdel through the runner, file work on O_NOFOLLOW descriptors."""

    def __init__(self, home_root: Path, *, timeout: float = 30.0) -> None:
        self.home_root = home_root.absolute()
        self.timeout = timeout
        self._lock = asyncio.Lock()

    def home_of(self, username: str) -> Path:
        return self.home_root / linux_name(username)

    async def account_ids(self, username: str) -> tuple[int, int] | None:
        entry = await asyncio.to_thread(_lookup, linux_name(username))
        if entry is None or not entry.pw_uid or entry.pw_gecos != GECOS_MARKER + username:
            return None
        return entry.pw_uid, entry.pw_gid

    async def ensure_user(self, username: str) -> Path:
        name, home = linux_name(username), self.home_of(username)
        async with self._lock:
            self._prepare_home_root()
            entry = _lookup(name)
            if entry is None:
                argv = [
                    "useradd",
                    "--create-home",
                    "--home-dir",
                    str(home),
                    "--shell",
                    SHELL,
                    "--user-group",
                    "--comment",
                    GECOS_MARKER + username,
                    "--password",
                    "*",  # no password login, yet not locked ("!"), which sshd with UsePAM no refuses
                    name,
                ]
                try:
                    await run(argv, timeout=self.timeout)
                except (CommandError, OSError) as exc:
                    if _lookup(name) is None:  # else another process made it meanwhile: checked below like any
                        log.error("useradd %s failed: %s", name, exc)
                        raise SystemUserError(f"The Linux account {name} could not be created.") from exc
                entry = _lookup(name)
                if entry is None:
                    raise SystemUserError(f"The Linux account {name} could not be created.")
            self._check_ours(entry, username, home)
            self._repair_home(entry, home)
        return home

    async def remove_user(self, username: str) -> None:
        name, home = linux_name(username), self.home_of(username)
        async with self._lock:
            entry = _lookup(name)
            if entry is None:
                return
            self._check_ours(entry, username, home)
            try:
                await run(["userdel", "--remove", name], timeout=self.timeout)
            except (CommandError, OSError) as exc:
                # userdel exits 12 when only the home folder could not be removed: the account is gone anyway.
                if _lookup(name) is not None:
                    log.error("userdel %s failed: %s", name, exc)
                    raise SystemUserError(f"The Linux account {name} could not be removed.") from exc

    async def write_authorized_keys(self, username: str, keys: Sequence[str]) -> None:
        content = authorized_keys_content(keys)
        name, home = linux_name(username), self.home_of(username)
        entry = _lookup(name)
        if entry is None:
            if not keys:
                return  # no account, so no key can log in: already what was asked
            raise SystemUserError(f"The Linux account {name} does not exist.")
        self._check_ours(entry, username, home)
        try:
            await asyncio.to_thread(_write_keys_nofollow, self.home_root, name, entry, content)
        except OSError as exc:
            log.error("writing %s/.ssh/%s failed: %s", home, AUTHORIZED_KEYS, exc)
            raise SystemUserError(
                "The SSH keys could not be written to the hosting account (is ~/.ssh a symbolic link?)."
            ) from exc

    # --- checks --------------------------------------------------------------------------------------

    def _prepare_home_root(self) -> None:
        """Create the home root 0755 if missing; refuse it if any folder on its path could be swapped by non-root.

        Checked with lstat (a symbolic link anywhere on the path is refused): each folder up to / must be a real
        folder owned by root, not group/world-writable (so /tmp or a path below it is refused) and searchable by
        all (sshd opens authorized_keys as the user).
        """
        missing = [p for p in (self.home_root, *self.home_root.parents) if not os.path.lexists(p)]
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
                os.chmod(folder, 0o755)  # noqa: S103 -- sshd reads through it as the user; root-writable only
        for folder in (self.home_root, *self.home_root.parents):
            info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022 or not info.st_mode & 0o001:
                raise SystemUserError(
                    f"The home root {self.home_root} is not safe for SSH: every folder on its path must be a real "
                    f"folder owned by root, searchable by all and writable by root only ({folder} is not)."
                )

    def _check_ours(self, entry: pwd.struct_passwd, username: str, home: Path) -> None:
        if entry.pw_gecos != GECOS_MARKER + username or Path(entry.pw_dir) != home or entry.pw_uid == 0:
            raise SystemUserError(
                f"The Linux account {entry.pw_name} exists but was not made by Hostplane for this user; "
                "it is left alone."
            )

    def _repair_home(self, entry: pwd.struct_passwd, home: Path) -> None:
        """Make the home a real folder owned by the user with HOME_MODE (also when deleted by hand)."""
        try:
            root_fd = os.open(self.home_root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise SystemUserError(f"The home root {self.home_root} cannot be opened.") from exc
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(home.name, 0o700, dir_fd=root_fd)
            with _dir_fd(home.name, root_fd) as home_fd:
                os.fchown(home_fd, entry.pw_uid, entry.pw_gid)
                os.fchmod(home_fd, HOME_MODE)
        except OSError as exc:
            raise SystemUserError(f"The home folder {home} is not a plain folder; it is left alone.") from exc
        finally:
            os.close(root_fd)


def _lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


@contextlib.contextmanager
def _dir_fd(name: str | Path, dir_fd: int | None = None) -> Iterator[int]:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def _write_keys_nofollow(home_root: Path, name: str, entry: pwd.struct_passwd, content: bytes) -> None:
    """home_root/name/.ssh/authorized_keys := content, atomically, owned by the user, never through a link."""
    uid, gid = entry.pw_uid, entry.pw_gid
    with _dir_fd(home_root) as root_fd, _dir_fd(name, root_fd) as home_fd:
        with contextlib.suppress(FileExistsError):
            os.mkdir(".ssh", 0o700, dir_fd=home_fd)
        with _dir_fd(".ssh", home_fd) as ssh_fd:
            os.fchown(ssh_fd, uid, gid)
            os.fchmod(ssh_fd, 0o700)
            temp = f".{AUTHORIZED_KEYS}.{secrets.token_hex(8)}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=ssh_fd)
            try:
                with os.fdopen(fd, "wb") as handle:
                    os.fchown(handle.fileno(), uid, gid)
                    os.fchmod(handle.fileno(), 0o600)
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
                # rename replaces the name itself: a link planted at authorized_keys is replaced, not followed
                os.replace(temp, AUTHORIZED_KEYS, src_dir_fd=ssh_fd, dst_dir_fd=ssh_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=ssh_fd)
                raise
            os.fsync(ssh_fd)


def build_system_users(*, enabled: bool, home_root: Path) -> SystemUsers:
    """The real driver when the settings say so; it needs root, and says so clearly on first use otherwise."""
    return LinuxSystemUsers(home_root) if enabled else DisabledSystemUsers(home_root)
