"""Driver of Hostplane's own OpenDKIM instance (`opendkim -x <config>`), the milter that signs outgoing mail.

Layout (under the mail folder unless the settings say otherwise):
- `<mail>/opendkim/opendkim.conf`, `KeyTable`, `SigningTable` (refile): no secrets, readable by the daemon;
- `<mail>/opendkim/run/opendkim.pid`: written by the daemon as root before it drops to the opendkim user, so it
  cannot remove it on exit; `stop()` removes it (the folder stays root-owned: the daemon cannot rewrite the pid
  that root later signals);
- `<key folder>/<selector>._domainkey.<domain>.key`: one PEM private key per mail domain, opendkim:opendkim
  0600. OpenDKIM refuses keys (RequireSafeKeys) when a folder on the way to them can be written by anyone but
  root and the opendkim user (see `unsafe_folders()`), so no folder under `/tmp`, nor under a user's home, can
  hold them. The key folder is `dkim_key_dir` when set; otherwise `<mail>/dkim-keys` when OpenDKIM accepts it,
  and else `<dkim_safe_root>/<instance>/dkim` (`/var/lib/hostplane/<12 hex digits of the state folder's
  path hash>/dkim`, made root-owned 0755), so a checkout cloned anywhere, /tmp included, signs its mail.
  `key_folder()` tells which and why; when none can work, `check_key_folder()` (and `hostplane init`/`serve`)
  says so in one line with the fix, instead of letting mail fail later with a 451.

Adding or removing a domain's key writes one key file and rewrites the two tables (one short line per domain,
about 100 bytes, rendered from the key folder's listing, not the database), then sends SIGUSR1: OpenDKIM reloads
its config without dropping connections. The reload itself re-reads the whole tables whatever we do, so a table
rewrite per change costs no more than the reload; key files are never rewritten for other domains.

OpenDKIM logs only to syslog. With no /dev/log (containers, CI) it runs normally and its messages are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import grp
import hashlib
import os
import pwd
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from hostplane.settings import Settings
from hostplane.system import daemons
from hostplane.system.files import any_present, atomic_write
from hostplane.system.mailconfig import ConfigRejected, render, safe_path, start_daemon
from hostplane.system.mailpaths import MailPaths
from hostplane.system.runner import CommandError, run, run_sync

Layout = Literal["embedded", "system"]
OPENDKIM = "/usr/sbin/opendkim"
DAEMON_USER = "opendkim"
SELECTOR = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
KEY_SUFFIX = ".key"
_DOMAINKEY = "._domainkey."
STOP_TIMEOUT = 30.0
"""OpenDKIM needs about 5 s to exit after SIGTERM; a restart before it is gone cannot bind the port."""
_table_lock = threading.Lock()


class DkimKeyFolderUnsafe(RuntimeError):
    """The key folder breaks OpenDKIM's RequireSafeKeys rule: it would refuse every key (mail would get 451)."""


@dataclass(frozen=True)
class Unsafe:
    """One folder on the way to the keys that makes OpenDKIM refuse them, and why."""

    folder: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.folder} {self.reason}"


def unsafe_folders(path: Path) -> list[Unsafe]:
    """The folders from / down to `path` that break OpenDKIM's safe-key rule (RequireSafeKeys; dkimf_securefile
    in opendkim.c, checked as the opendkim user once it dropped root, after resolving symbolic links): a folder
    is refused when others can write to it, when its group can write to it and has a member besides root and
    opendkim, or when its owner can write to it and is neither root nor opendkim; every folder is checked, even
    below one nobody else can enter. A folder that does not exist yet counts as made by this process (root or
    opendkim: accepted). Checked against `opendkim -t` (Debian 12, 2.11.0~beta2): 0755 and 0775 root:root and
    0555 owned by another user are accepted; /tmp (1777), a 1777 folder, a 0777 folder below a 0700 one and a
    0755 folder owned by another user are refused."""
    ids = _daemon_ids()
    trusted_uids = {0, *ids[:1]}
    trusted_names = {"root", DAEMON_USER}
    found: list[Unsafe] = []
    resolved = path.resolve()
    for folder in [*reversed(resolved.parents), resolved]:
        try:
            info = folder.stat()
        except FileNotFoundError:
            if os.geteuid() not in trusted_uids:
                found.append(Unsafe(folder, f"would be made by uid {os.geteuid()}, neither root nor {DAEMON_USER}"))
            break
        mode = info.st_mode
        if mode & stat.S_IWOTH:
            found.append(Unsafe(folder, "is writable by others"))
        elif mode & stat.S_IWGRP and _group_has_others(info.st_gid, trusted_uids, trusted_names):
            found.append(Unsafe(folder, f"is writable by group {info.st_gid}, which has other members"))
        elif mode & stat.S_IWUSR and info.st_uid not in trusted_uids:
            found.append(Unsafe(folder, f"is writable by its owner uid {info.st_uid}, neither root nor {DAEMON_USER}"))
    return found


def _group_has_others(gid: int, trusted_uids: set[int], trusted_names: set[str]) -> bool:
    if any(entry.pw_gid == gid and entry.pw_uid not in trusted_uids for entry in pwd.getpwall()):
        return True
    try:
        members = grp.getgrgid(gid).gr_mem
    except KeyError:
        return True  # OpenDKIM refuses a group it cannot look up
    return any(name not in trusted_names for name in members)


def instance_id(state_dir: Path) -> str:
    """A short stable name of this panel instance: 12 hex digits of the hash of its state folder's real path."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class KeyFolder:
    """Where the signer's keys live, and why there."""

    path: Path
    configured: bool
    """Set by dkim_key_dir (never moved)."""
    default: Path
    """The folder the embedded default prefers: <mail>/dkim-keys."""
    moved_because: tuple[Unsafe, ...] = ()
    """Why the keys are not in `default` (empty: they are, or the folder is configured)."""
    problems: tuple[Unsafe, ...] = ()
    """Why OpenDKIM would refuse the keys in `path` (empty: it accepts them, or RequireSafeKeys is off)."""

    @property
    def moved(self) -> bool:
        return bool(self.moved_because)

    def note(self) -> str | None:
        """One line for `hostplane init` when the keys do not live in the state folder, else None."""
        if not self.moved:
            return None
        return f"DKIM keys: {self.path} (OpenDKIM would refuse them in the state folder: {self.moved_because[0]})"

    def problem(self) -> str | None:
        """One line saying why OpenDKIM would refuse every key, and how to fix it; None when it accepts them."""
        if not self.problems:
            return None
        where = f"{self.path} (HOSTPLANE_DKIM_KEY_DIR)" if self.configured else str(self.path)
        because = str(self.problems[0])  # the first on the way down
        if not self.configured and self.moved:
            because = f"{self.moved_because[0]}; and in {self.path}: {because}"
            where = str(self.default)
        fix = "run `hostplane` as root, or " if os.geteuid() != 0 else ""
        return (
            f"OpenDKIM would refuse the keys in {where}: {because}. Fix: {fix}set HOSTPLANE_DKIM_KEY_DIR to a "
            "folder owned by root that no other user can write to, nor any folder above it "
            "(or HOSTPLANE_DKIM_REQUIRE_SAFE_KEYS=false, for development only)."
        )


def key_folder(settings: Settings, mail_root: Path) -> KeyFolder:
    """The key folder of these settings: `dkim_key_dir` if set; else `<mail>/dkim-keys` when OpenDKIM accepts it
    (or RequireSafeKeys is off); else `<dkim_safe_root>/<instance>/dkim` (root-owned 0755 once made)."""
    default = (mail_root / "dkim-keys").absolute()
    check = settings.dkim_require_safe_keys
    if settings.dkim_key_dir is not None:
        path = settings.dkim_key_dir.absolute()
        return KeyFolder(path, True, default, problems=tuple(unsafe_folders(path)) if check else ())
    refused = tuple(unsafe_folders(default)) if check else ()
    if not refused:
        return KeyFolder(default, False, default)
    fallback = (settings.dkim_safe_root / instance_id(settings.state_dir) / "dkim").absolute()
    return KeyFolder(fallback, False, default, moved_because=refused, problems=tuple(unsafe_folders(fallback)))


@dataclass(frozen=True)
class SigningKey:
    """One domain's key as OpenDKIM sees it."""

    domain: str
    selector: str
    path: Path

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


def check_names(domain: str, selector: str) -> None:
    """Names reach here after the strict grammars of the API; this checks again before they become paths or
    table lines (a space, a colon or a slash would change what OpenDKIM reads)."""
    if not DOMAIN.match(domain) or not SELECTOR.match(selector):
        raise ValueError(f"unsafe DKIM names: {domain!r} {selector!r}")


@dataclass
class OpenDkimDriver:
    settings: Settings
    paths: MailPaths
    layout: Layout = "embedded"
    name: str = "opendkim"

    @classmethod
    def from_settings(cls, settings: Settings, layout: Layout = "embedded") -> OpenDkimDriver:
        return cls(settings, MailPaths.from_settings(settings), layout)

    # --- where things live ----------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.paths.root / "opendkim"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "opendkim.conf"

    @property
    def run_dir(self) -> Path:
        return self.config_dir / "run"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "opendkim.pid"

    @cached_property
    def key_folder(self) -> KeyFolder:
        """Where the keys live and why (decided once per driver: see `key_folder()`)."""
        return key_folder(self.settings, self.paths.root)

    @property
    def key_dir(self) -> Path:
        return self.key_folder.path

    @property
    def milter(self) -> str:
        """How Postfix reaches the signer (smtpd_milters)."""
        return f"inet:{self.settings.mail_bind_host}:{self.settings.dkim_milter_port}"

    def key_path(self, domain: str, selector: str) -> Path:
        check_names(domain, selector)
        return self.key_dir / f"{selector}{_DOMAINKEY}{domain}{KEY_SUFFIX}"

    # --- rendering ------------------------------------------------------------------------------------
    def installed_keys(self) -> list[SigningKey]:
        """The keys in the key folder (the signer's live truth), sorted by domain."""
        found = []
        with contextlib.suppress(FileNotFoundError):
            for entry in self.key_dir.iterdir():
                parsed = _parse_key_name(entry.name)
                if parsed is not None and entry.is_file():
                    found.append(SigningKey(parsed[1], parsed[0], entry))
        return sorted(found, key=lambda key: (key.domain, key.selector))

    def render(self, config_dir: Path, keys: Sequence[SigningKey] | None = None) -> dict[str, str]:
        """The whole config set as it should be when it lives in `config_dir`."""
        keys = self.installed_keys() if keys is None else keys
        s = self.settings
        values = {
            "layout": self.layout,
            "host": s.mail_bind_host,
            "port": s.dkim_milter_port,
            "pidfile": safe_path(self.pidfile),
            "key_table": safe_path(config_dir / "KeyTable"),
            "signing_table": safe_path(config_dir / "SigningTable"),
            "require_safe_keys": s.dkim_require_safe_keys,
            "internal_hosts": "127.0.0.1" if s.mail_bind_host == "127.0.0.1" else f"127.0.0.1,{s.mail_bind_host}",
        }
        tables = self._tables(keys)
        return {"opendkim.conf": render("opendkim/opendkim.conf.j2", **values), **tables}

    @staticmethod
    def _tables(keys: Sequence[SigningKey]) -> dict[str, str]:
        for key in keys:
            check_names(key.domain, key.selector)
            safe_path(key.path)
        return {
            "KeyTable": render("opendkim/KeyTable.j2", keys=keys),
            "SigningTable": render("opendkim/SigningTable.j2", keys=keys),
        }

    def config_applied(self) -> bool:
        """Whether its config file was ever written here (by `apply()`, when the daemon starts or on reconcile)."""
        return any_present([self.config_file])

    def keys_applied(self) -> bool:
        """Whether its tables or a key were ever written here (by a key change, or `sync_keys()`)."""
        tables = [self.config_dir / "KeyTable", self.config_dir / "SigningTable"]
        return any_present(tables) or bool(self.installed_keys())

    def unsafe_key_folders(self) -> list[Path]:
        """Folders on the key path that make OpenDKIM refuse the keys (see `unsafe_folders()`)."""
        return [item.folder for item in unsafe_folders(self.key_dir)]

    def prepare(self) -> None:
        """Folders: config (readable), run (root-owned), key folder (root-owned 0755; only the files are secret)."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.config_dir, 0o755)  # noqa: S103 (the daemon reads the tables after dropping root)
        self.run_dir.mkdir(exist_ok=True)
        os.chmod(self.run_dir, 0o755)  # noqa: S103 (no secrets; root-owned so the daemon cannot rewrite the pid)
        _make_folders(self.key_dir)

    def check_key_folder(self) -> None:
        """Raise DkimKeyFolderUnsafe (one line with the fix) when OpenDKIM would refuse the keys."""
        if not self.settings.dkim_require_safe_keys:
            return
        folder = dataclasses.replace(self.key_folder, problems=tuple(unsafe_folders(self.key_dir)))  # as they are now
        problem = folder.problem()
        if problem:
            raise DkimKeyFolderUnsafe(problem)

    def validate(self, config_dir: Path) -> None:
        """`opendkim -n`: parses the config and opens both tables; a bad line is refused with its reason."""
        try:
            run_sync([OPENDKIM, "-n", "-x", str(config_dir / "opendkim.conf")], timeout=30)
        except CommandError as exc:
            raise ConfigRejected("opendkim", exc.result.output if exc.result else str(exc)) from exc

    def apply_sync(self) -> bool:
        """Render the whole set from the key folder, validate it in a staging folder, then replace each live
        file atomically (the previous set stays live when validation fails). Returns whether anything changed;
        does not reload. Blocking: holds the table lock, so a key added meanwhile is never lost."""
        self.prepare()
        with _locked_tables(self.config_dir):
            live = self.render(self.config_dir)
            if all(_read(self.config_dir / name) == content for name, content in live.items()):
                return False
            staging = self.config_dir.with_name(self.config_dir.name + ".staging")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(mode=0o755)
            try:
                for name, content in self.render(staging).items():
                    atomic_write(staging / name, content.encode(), mode=0o644)
                self.validate(staging)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            # The tables only change with the key folder; the config file is last, so a reader never sees a new
            # config naming tables that are not there yet.
            for name in ("KeyTable", "SigningTable", "opendkim.conf"):
                atomic_write(self.config_dir / name, live[name].encode(), mode=0o644)
        return True

    async def apply(self) -> bool:
        """apply_sync() in a thread, then a reload if the daemon runs and anything changed."""
        changed = await asyncio.to_thread(self.apply_sync)
        if changed and self.pid() is not None:
            await self.reload()
        return changed

    # --- one domain's key -----------------------------------------------------------------------------
    def put_key(self, domain: str, selector: str, private_pem: bytes) -> None:
        """Install (or replace) one domain's key and make the signer use it. Blocking: run it in a thread."""
        self.prepare()
        path = self.key_path(domain, selector)
        with _locked_tables(self.config_dir):
            for old in self._files_of(domain):
                if old != path:
                    old.unlink(missing_ok=True)
            _write_key_file(path, private_pem)
            self._write_tables()
        self.signal_reload()

    def remove_key(self, domain: str) -> bool:
        """Stop signing for a domain and delete its key file; returns whether there was one. Blocking."""
        with _locked_tables(self.config_dir):
            files = self._files_of(domain)
            for path in files:
                path.unlink(missing_ok=True)
            if files:
                self._write_tables()
        if files:
            self.signal_reload()
        return bool(files)

    def sync_keys(self, wanted: dict[tuple[str, str], bytes]) -> list[str]:
        """Make the key folder hold exactly `wanted` ((domain, selector) -> PEM), rewrite the tables, reload.
        Returns what differed (for reconcile's drift report). Blocking."""
        self.prepare()
        drift = []
        with _locked_tables(self.config_dir):
            installed = self.installed_keys()
            present = {(key.domain, key.selector): key.path for key in installed}
            for name, content in self._tables(installed).items():
                current = _read(self.config_dir / name)
                if current is None:
                    drift.append(f"opendkim {name} written (it was missing)")
                elif current != content:
                    drift.append(f"opendkim {name} rewritten (it did not match the key folder)")
            for (domain, selector), pem in sorted(wanted.items()):
                path = self.key_path(domain, selector)
                if not _same_key_file(path, pem):
                    drift.append(f"dkim key {selector}._domainkey.{domain} {'rewritten' if path.exists() else 'added'}")
                    _write_key_file(path, pem)
            for (domain, selector), path in sorted(present.items()):
                if (domain, selector) not in wanted:
                    drift.append(f"dkim key {selector}._domainkey.{domain} removed (no such key in the panel)")
                    path.unlink(missing_ok=True)
            self._write_tables()
        if drift:
            self.signal_reload()
        return drift

    def _files_of(self, domain: str) -> list[Path]:
        return [key.path for key in self.installed_keys() if key.domain == domain]

    def _write_tables(self) -> None:
        for name, content in self._tables(self.installed_keys()).items():
            atomic_write(self.config_dir / name, content.encode(), mode=0o644)

    # --- the daemon -----------------------------------------------------------------------------------
    def pid(self) -> int | None:
        return daemons.read_pid(self.pidfile)

    async def start(self) -> None:
        if self.pid() is not None:
            return
        await self.apply()
        await asyncio.to_thread(self.paths.make_reachable)  # the daemon reads its tables after dropping root
        self.check_key_folder()
        self.pidfile.unlink(missing_ok=True)
        await start_daemon([OPENDKIM, "-x", str(self.config_file)])
        await daemons.wait_for_port(self.settings.mail_bind_host, self.settings.dkim_milter_port, timeout=20)

    async def stop(self) -> None:
        """SIGTERM by pid and wait until the process is gone (about 5 s), then remove the pidfile the daemon,
        no longer root, could not remove itself."""
        pid = self.pid()
        if pid is not None:
            await daemons.stop_pid(pid, timeout=STOP_TIMEOUT)
        self.pidfile.unlink(missing_ok=True)

    def signal_reload(self) -> bool:
        """SIGUSR1: OpenDKIM re-reads its config and tables. Returns whether a running daemon was told."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR1)
            return True
        return False

    async def reload(self) -> None:
        self.signal_reload()

    async def healthy(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        return await asyncio.to_thread(daemons.port_open, self.settings.mail_bind_host, self.settings.dkim_milter_port)

    async def version(self) -> str:
        result = await run([OPENDKIM, "-V"], check=False, timeout=10)
        match = re.search(r"OpenDKIM Filter v(\S+)", result.output)
        return match.group(1) if match else result.output.splitlines()[0] if result.output else "unknown"


def _parse_key_name(name: str) -> tuple[str, str] | None:
    """(selector, domain) from "<selector>._domainkey.<domain>.key", or None for anything else."""
    if not name.endswith(KEY_SUFFIX) or _DOMAINKEY not in name:
        return None
    selector, _, domain = name[: -len(KEY_SUFFIX)].partition(_DOMAINKEY)
    if not SELECTOR.match(selector) or not DOMAIN.match(domain):
        return None
    return selector, domain


def _make_folders(path: Path) -> None:
    """Make `path` and whatever is missing above it 0755 (whatever the umask: the daemon must enter them), and
    `path` itself 0755 even when it existed (OpenDKIM's rule: nobody else may write to it)."""
    missing = [folder for folder in [path, *path.parents] if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o755)  # noqa: S103 (only the key files are secret: 0600, opendkim's)
    os.chmod(path, 0o755)  # noqa: S103


def _daemon_ids() -> tuple[int, int] | tuple[()]:
    try:
        entry = pwd.getpwnam(DAEMON_USER)
    except KeyError:
        return ()
    return entry.pw_uid, entry.pw_gid


def _write_key_file(path: Path, pem: bytes) -> None:
    """Atomically, created 0600 and handed to the opendkim user before it gets its name (never readable by
    anyone else, not even for a moment)."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        ids = _daemon_ids()
        if ids and os.geteuid() == 0:
            os.fchown(fd, ids[0], ids[1])
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _same_key_file(path: Path, pem: bytes) -> bool:
    try:
        info = path.stat()
        same = path.read_bytes() == pem
    except FileNotFoundError:
        return False
    ids = _daemon_ids()
    owner_ok = not ids or os.geteuid() != 0 or (info.st_uid, info.st_gid) == ids
    return same and owner_ok and stat.S_IMODE(info.st_mode) == 0o600


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _locked_tables(config_dir: Path) -> Iterator[None]:
    """One table writer at a time: in this process (threads) and across processes (the CLI beside the server)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    with _table_lock, open(config_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
