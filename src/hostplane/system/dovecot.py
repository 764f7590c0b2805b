"""Driver of Hostplane's own Dovecot instance (`dovecot -c <config>`): render, validate, swap, run.

Mailboxes and passwords are not in these files: Dovecot's auth worker reads them from the SQL lookup file
(system/maillookup.py) at every login, so the config only changes when settings do.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hostplane.settings import Settings
from hostplane.system import daemons
from hostplane.system.mailconfig import ConfigRejected, render, safe_path, stage_validate_swap, start_daemon
from hostplane.system.maillookup import MailLookup
from hostplane.system.mailpaths import MailPaths
from hostplane.system.runner import CommandError, run, run_sync

Layout = Literal["embedded", "system"]
DOVECOT = "/usr/sbin/dovecot"
DOVECONF = "/usr/bin/doveconf"
DOVEADM = "/usr/bin/doveadm"


@dataclass(frozen=True)
class VmailUser:
    name: str
    uid: int
    gid: int


def ensure_vmail_user(name: str, uid: int) -> VmailUser:
    """The system user that owns every Maildir; created (as a system user, no login) when missing, with the
    wanted uid if it is free."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        argv = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
        argv += ["--shell", "/usr/sbin/nologin"]
        try:
            pwd.getpwuid(uid)
        except KeyError:
            argv += ["--uid", str(uid)]
        run_sync([*argv, name], timeout=30)
        entry = pwd.getpwnam(name)
    return VmailUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


@dataclass
class DovecotDriver:
    settings: Settings
    paths: MailPaths
    layout: Layout = "embedded"

    @classmethod
    def from_settings(cls, settings: Settings, layout: Layout = "embedded") -> DovecotDriver:
        return cls(settings, MailPaths.from_settings(settings), layout)

    @property
    def config_file(self) -> Path:
        return self.paths.dovecot_config

    def vmail(self) -> VmailUser:
        return ensure_vmail_user(self.settings.mail_vmail_user, self.settings.mail_vmail_uid)

    def render(self, config_dir: Path) -> dict[str, str]:
        """The whole config set as it should be when it lives in `config_dir`."""
        s = self.settings
        vmail = self.vmail()
        values = {
            "layout": self.layout,
            "bind_host": s.mail_bind_host,
            "imap_port": s.mail_imap_port,
            "lmtp_host": s.mail_bind_host,
            "lmtp_port": s.mail_lmtp_port,
            "hostname": s.mail_hostname,
            "base_dir": safe_path(self.paths.dovecot_run),
            "state_dir": safe_path(self.paths.dovecot_state),
            "log_path": safe_path(self.paths.dovecot_log),
            "instance_name": f"hostplane-{s.mail_imap_port}",
            "vmail_user": vmail.name,
            "vmail_uid": vmail.uid,
            "vmail_gid": vmail.gid,
            "sql_config": safe_path(config_dir / "dovecot-sql.conf.ext"),
            "dbpath": safe_path(self.paths.lookup / "dovecot.db"),
        }
        return {
            "dovecot.conf": render("dovecot/dovecot.conf.j2", **values),
            "dovecot-sql.conf.ext": render("dovecot/dovecot-sql.conf.ext.j2", **values),
        }

    def prepare(self) -> None:
        """The Maildir root belongs to vmail; the archive and config folders to root."""
        vmail = self.vmail()
        self.paths.vmail.mkdir(parents=True, exist_ok=True)
        os.chown(self.paths.vmail, vmail.uid, vmail.gid)
        os.chmod(self.paths.vmail, 0o750)  # noqa: S103 (group/daemons must traverse; nothing secret is listable)
        self.paths.archive.mkdir(parents=True, exist_ok=True)
        os.chmod(self.paths.archive, 0o700)
        self.paths.dovecot_config_dir.mkdir(parents=True, exist_ok=True)
        MailLookup(self.paths.lookup).ensure()  # the daemon opens it at its first lookup

    async def validate(self, config_dir: Path) -> None:
        try:
            await run([DOVECONF, "-c", str(config_dir / "dovecot.conf"), "-n"], timeout=30)
        except CommandError as exc:
            raise ConfigRejected("dovecot", exc.result.output if exc.result else str(exc)) from exc

    async def apply(self) -> bool:
        """Render, validate in a staging folder, swap in atomically, reload if running. Returns if it changed."""
        self.prepare()
        changed = await stage_validate_swap(self.paths.dovecot_config_dir, self.render, self.validate)
        if changed and self.pid() is not None:
            await self.reload()
        return changed

    def pid(self) -> int | None:
        return daemons.read_pid(self.paths.dovecot_pidfile)

    async def start(self) -> None:
        if self.pid() is not None:
            return
        await self.apply()
        await start_daemon([DOVECOT, "-c", str(self.config_file)])
        for port in (self.settings.mail_imap_port, self.settings.mail_lmtp_port):
            await daemons.wait_for_port(self.settings.mail_bind_host, port, timeout=20)

    async def reload(self) -> None:
        await run([DOVEADM, "-c", str(self.config_file), "reload"], timeout=30)

    async def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            await daemons.stop_pid(pid, timeout=20)

    async def kick(self, address: str) -> None:
        """End the open IMAP sessions of a mailbox (after a deletion or password change); best effort."""
        if self.pid() is not None:
            await run([DOVEADM, "-c", str(self.config_file), "kick", address], timeout=15, check=False)

    async def version(self) -> str:
        result = await run([DOVECOT, "--version"], check=False)
        return result.stdout.strip()

    def dispose_maildir(self, home: Path, *, archive: bool, label: str) -> str:
        """Move a mailbox or domain folder to the archive (under `label`), or remove it. Returns what happened:
        "archived", "removed" or "absent"."""
        if not home.exists():
            return "absent"
        if not archive:
            shutil.rmtree(home)
            return "removed"
        target = self.paths.archive / label
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(home, target)
        return "archived"
