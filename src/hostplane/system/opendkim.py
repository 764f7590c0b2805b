"""Driver of Hostplane's own OpenDKIM instance (`opendkim -x <config>`), the milter that signs outgoing mail.

Layout (under the mail folder unless the settings say otherwise):
- `<mail>/opendkim/opendkim.conf`, `KeyTable`, `SigningTable` (refile): no secrets, readable by the daemon;
- `<mail>/opendkim/run/opendkim.pid`: written by the daemon as root before it drops to the opendkim user, so it
  cannot remove it on exit; `stop()` removes it (the folder stays root-owned: the daemon cannot rewrite the pid
  that root later signals);
- `<dkim_key_dir>/<selector>._domainkey.<domain>.key`: one PEM private key per mail domain, opendkim:opendkim
  0600. OpenDKIM refuses keys (RequireSafeKeys) when a folder on that path is group/world-writable or owned by
  anyone but root or opendkim, so `/tmp` can never hold them; `unsafe_key_folders()` says which folder breaks
  the rule and `start()` refuses with that message instead of letting mail fail later with a 451.

Adding or removing a domain's key writes one key file and rewrites the two tables (one short line per domain,
about 100 bytes, rendered from the key folder's listing, not the database), then sends SIGUSR1: OpenDKIM reloads
its config without dropping connections. The reload itself re-reads the whole tables whatever we do, so a table
rewrite per change costs no more than the reload; key files are never rewritten for other domains.

OpenDKIM logs only to syslog. With no /dev/log (containers, CI) it runs normally and its messages are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
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
from pathlib import Path
from typing import Literal

from hostplane.settings import Settings
from hostplane.system import daemons
from hostplane.system.files import atomic_write
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

    @property
    def key_dir(self) -> Path:
        return (self.settings.dkim_key_dir or self.paths.root / "dkim-keys").absolute()

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

    def unsafe_key_folders(self) -> list[Path]:
        """Folders on the key path that make OpenDKIM refuse the keys: group/world-writable, or owned by anyone
        but root or the opendkim user (e.g. /tmp, or a home folder)."""
        allowed = {0, *_daemon_ids()[:1]}
        unsafe = []
        for folder in [self.key_dir, *self.key_dir.parents]:
            try:
                info = folder.stat()
            except FileNotFoundError:
                continue
            if info.st_uid not in allowed or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                unsafe.append(folder)
        return unsafe

    def prepare(self) -> None:
        """Folders: config (readable), run (root-owned), key folder (root-owned 0755; only the files are secret)."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.config_dir, 0o755)  # noqa: S103 (the daemon reads the tables after dropping root)
        self.run_dir.mkdir(exist_ok=True)
        os.chmod(self.run_dir, 0o755)  # noqa: S103 (no secrets; root-owned so the daemon cannot rewrite the pid)
        self.key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.key_dir, 0o755)  # noqa: S103 (OpenDKIM's safe-key rule: root-owned, not g/o-writable)

    def check_key_folder(self) -> None:
        if not self.settings.dkim_require_safe_keys:
            return
        unsafe = self.unsafe_key_folders()
        if unsafe:
            raise DkimKeyFolderUnsafe(
                f"OpenDKIM would refuse the keys in {self.key_dir}: {', '.join(map(str, unsafe))} is writable by "
                "group/others or not owned by root or opendkim. Set dkim_key_dir to a root-owned 0755 path "
                "(e.g. /var/lib/hostplane/dkim-keys), or dkim_require_safe_keys=false for development only."
            )

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
                if _read(self.config_dir / name) != content:
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
