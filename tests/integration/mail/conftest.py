"""Real Postfix, Dovecot and OpenDKIM, started from the configs Hostplane renders, on free loopback ports, under a
short temporary mail folder (Dovecot's unix sockets must fit in 108 bytes), and stopped by their own pids.

OpenDKIM refuses keys under a group/world-writable folder such as /tmp, so the DKIM keys live in a root-owned 0755
folder under /run (RequireSafeKeys stays on: the tests run the production rule)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.dovecot import DovecotDriver
from hostplane.system.maillookup import LookupState, MailLookup
from hostplane.system.mailpaths import MailPaths
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.system.postfix import PostfixDriver


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@dataclass
class MailStack:
    settings: Settings
    paths: MailPaths
    postfix: PostfixDriver
    dovecot: DovecotDriver
    opendkim: OpenDkimDriver

    @property
    def smtp(self) -> tuple[str, int]:
        return "127.0.0.1", self.settings.mail_smtp_port

    @property
    def imap(self) -> tuple[str, int]:
        return "127.0.0.1", self.settings.mail_imap_port

    def maillog(self) -> str:
        return self.paths.postfix_log.read_text() if self.paths.postfix_log.exists() else ""


@pytest.fixture(scope="session")
def mail_daemons() -> Iterator[MailStack]:
    """Postfix, Dovecot and OpenDKIM, started once for the whole run (they take seconds to start and stop) and stopped
    by their pids at the end, even when a test or the start failed. Each test starts from empty lookup tables
    and mail folders (see `mail_stack`), which is all the state these daemons have."""
    root = Path(tempfile.mkdtemp(prefix="hpm-", dir="/tmp"))  # short: Dovecot's socket paths must fit
    os.chmod(root, 0o711)  # the postfix and vmail users only traverse it
    keys = Path(tempfile.mkdtemp(prefix="hp-dkim-", dir="/run"))  # root-owned path: OpenDKIM's safe-key rule
    os.chmod(keys, 0o755)  # the key files in it are opendkim-only 0600
    smtp, imap, lmtp, milter = free_ports(4)
    settings = Settings(
        state_dir=root / "state",
        mail_dir=root,
        mail_smtp_port=smtp,
        mail_imap_port=imap,
        mail_lmtp_port=lmtp,
        dkim_milter_port=milter,
        dkim_key_dir=keys,
    )
    paths = MailPaths.from_settings(settings)
    postfix, dovecot = PostfixDriver(settings, paths), DovecotDriver(settings, paths)
    opendkim = OpenDkimDriver(settings, paths)
    try:
        asyncio.run(opendkim.start())
        asyncio.run(dovecot.start())
        asyncio.run(postfix.start())
        yield MailStack(settings, paths, postfix, dovecot, opendkim)
    finally:
        asyncio.run(postfix.stop())
        asyncio.run(dovecot.stop())
        asyncio.run(opendkim.stop())  # takes about 5 s: it waits until the pid is gone
        for log in (paths.postfix_log, paths.dovecot_log):
            if log.exists():
                print(f"--- {log}\n{log.read_text()[-5000:]}")
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(keys, ignore_errors=True)
    assert postfix.pid() is None and dovecot.pid() is None and opendkim.pid() is None


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], mail_daemons: MailStack) -> Settings:
    """The panel of each test drives the shared daemons: same mail folder, same ports."""
    mail = mail_daemons.settings
    return settings_factory(
        mail_dir=mail.mail_dir,
        mail_smtp_port=mail.mail_smtp_port,
        mail_imap_port=mail.mail_imap_port,
        mail_lmtp_port=mail.mail_lmtp_port,
        dkim_milter_port=mail.dkim_milter_port,
        dkim_key_dir=mail.dkim_key_dir,
    )


@pytest.fixture
def mail_stack(mail_daemons: MailStack, runtime: Runtime) -> MailStack:
    """The running daemons with nothing in them: empty lookup tables (this test's database is empty too),
    no DKIM keys, no Maildirs, no archive, an empty queue."""
    assert mail_daemons.postfix.pid() is not None and mail_daemons.dovecot.pid() is not None
    assert mail_daemons.opendkim.pid() is not None
    MailLookup(mail_daemons.paths.lookup).rebuild(LookupState())
    mail_daemons.opendkim.sync_keys({})
    for folder in (mail_daemons.paths.vmail, mail_daemons.paths.archive):
        for child in folder.iterdir():
            shutil.rmtree(child)
    return mail_daemons
