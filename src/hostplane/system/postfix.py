"""Driver of Hostplane's own Postfix instance (`postfix -c <config dir>`): render, validate, swap, run.

Mail domains, mailboxes and aliases are not in these files: Postfix reads them from the SQL lookup file
(system/maillookup.py) at every lookup, so the config only changes when settings do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hostplane.settings import Settings
from hostplane.system import daemons
from hostplane.system.mailconfig import ConfigRejected, render, safe_path, stage_validate_swap, start_daemon
from hostplane.system.maillookup import MailLookup
from hostplane.system.mailpaths import MailPaths
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.system.runner import CommandError, run

Layout = Literal["embedded", "system"]
POSTFIX = "/usr/sbin/postfix"
TEMPLATES = {
    "main.cf": "postfix/main.cf.j2",
    "master.cf": "postfix/master.cf.j2",
    "sqlite-domains.cf": "postfix/sqlite-domains.cf.j2",
    "sqlite-mailboxes.cf": "postfix/sqlite-mailboxes.cf.j2",
    "sqlite-aliases.cf": "postfix/sqlite-aliases.cf.j2",
}


@dataclass
class PostfixDriver:
    settings: Settings
    paths: MailPaths
    layout: Layout = "embedded"

    @classmethod
    def from_settings(cls, settings: Settings, layout: Layout = "embedded") -> PostfixDriver:
        return cls(settings, MailPaths.from_settings(settings), layout)

    @property
    def config_dir(self) -> Path:
        return self.paths.postfix_config

    def render(self) -> dict[str, str]:
        """The whole config set (identical wherever it lives: main.cf names its maps via $config_directory)."""
        s = self.settings
        values = {
            "layout": self.layout,
            "embedded": self.layout == "embedded",
            "queue_directory": safe_path(self.paths.postfix_queue),
            "data_directory": safe_path(self.paths.postfix_data),
            "maillog_file": safe_path(self.paths.postfix_log),
            "maillog_prefix": safe_path(self.paths.postfix_log.parent),
            "hostname": s.mail_hostname,
            "bind_host": s.mail_bind_host,
            "smtp_port": s.mail_smtp_port,
            "lmtp_host": s.mail_bind_host,
            "lmtp_port": s.mail_lmtp_port,
            "message_size_limit": 50 * 1024 * 1024,
            "dbpath": safe_path(self.paths.lookup / "postfix.db"),
            "milter": OpenDkimDriver(s, self.paths, self.layout).milter,
        }
        return {name: render(template, **values) for name, template in TEMPLATES.items()}

    def prepare(self) -> None:
        """Folders Postfix needs: the queue must exist (root-owned); the data folder must not be pre-created."""
        self.paths.postfix_queue.mkdir(parents=True, exist_ok=True)
        os.chmod(self.paths.postfix_queue, 0o755)  # noqa: S103 (group/daemons must traverse; nothing secret is listable)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        MailLookup(self.paths.lookup).ensure()  # the daemon opens it at its first lookup

    async def validate(self, config_dir: Path) -> None:
        try:
            result = await run([POSTFIX, "-c", str(config_dir), "check"], timeout=60)
        except CommandError as exc:
            raise ConfigRejected("postfix", exc.result.output if exc.result else str(exc)) from exc
        # `postfix check` exits 0 on warnings; a warning about our own files is a refusal too.
        problems = [line for line in result.output.splitlines() if "fatal" in line or "error" in line.lower()]
        if problems:
            raise ConfigRejected("postfix", "\n".join(problems))

    async def apply(self) -> bool:
        """Render, validate in a staging folder, swap in atomically, reload if running. Returns if it changed."""
        self.prepare()
        changed = await stage_validate_swap(self.config_dir, lambda _d: self.render(), self.validate)
        if changed and self.pid() is not None:
            await self.reload()
        return changed

    def pid(self) -> int | None:
        return daemons.read_pid(self.paths.postfix_pidfile)

    async def start(self) -> None:
        if self.pid() is not None:
            return
        await self.apply()
        await start_daemon([POSTFIX, "-c", str(self.config_dir), "start"])
        await daemons.wait_for_port(self.settings.mail_bind_host, self.settings.mail_smtp_port, timeout=20)

    async def reload(self) -> None:
        await run([POSTFIX, "-c", str(self.config_dir), "reload"], timeout=60)

    async def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            await daemons.stop_pid(pid, timeout=20)

    async def version(self) -> str:
        result = await run(["/usr/sbin/postconf", "-c", str(self.config_dir), "-h", "mail_version"], check=False)
        return result.stdout.strip()
