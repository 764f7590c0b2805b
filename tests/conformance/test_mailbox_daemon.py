"""The mailbox server's contract (MailboxDaemon), kept by Dovecot's driver (DovecotDriver, on real folders; its
server not running: tests/integration/mail kicks real IMAP sessions) and by FakeMailboxDaemon."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostplane.system.dovecot import DovecotDriver
from hostplane.system.fake import FakeMailboxDaemon
from hostplane.system.interfaces import MailboxDaemon
from hostplane.system.mailpaths import MailPaths
from tests.conformance.conftest import IMPLEMENTATIONS, settings_in


@dataclass
class Harness:
    driver: MailboxDaemon
    vmail: Path
    deliver: Callable[[Path], None]
    """Make a mail folder exist at this home (what the server does at the first delivery)."""
    exists: Callable[[Path], bool]
    archived: Callable[[str], bool]
    """Whether something was archived under this label."""


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    settings = settings_in(tmp_path)
    paths = MailPaths.from_settings(settings)
    if request.param == "fake":
        fake = FakeMailboxDaemon(paths.archive)

        def exists(home: Path) -> bool:
            return any(path == home or home in path.parents for path in fake.maildirs)

        return Harness(fake, paths.vmail, fake.maildirs.add, exists, lambda label: label in fake.archived)

    def deliver(home: Path) -> None:
        (home / "Maildir" / "new").mkdir(parents=True)
        (home / "Maildir" / "new" / "1.msg").write_text("Subject: hello\n\nhi\n")

    def archived(label: str) -> bool:
        return (paths.archive / label / "Maildir" / "new" / "1.msg").is_file() or (paths.archive / label).is_dir()

    return Harness(DovecotDriver(settings, paths), paths.vmail, deliver, Path.exists, archived)


def test_a_mailbox_without_mail_is_absent(harness: Harness) -> None:
    home = harness.vmail / "example.com" / "ann"
    assert harness.driver.dispose_maildir(home, archive=True, label="example.com/ann-1") == "absent"
    assert not harness.archived("example.com/ann-1")


def test_archiving_moves_the_mail_folder_under_its_label(harness: Harness) -> None:
    home = harness.vmail / "example.com" / "ann"
    harness.deliver(home)
    assert harness.driver.dispose_maildir(home, archive=True, label="example.com/ann-1") == "archived"
    assert not harness.exists(home)
    assert harness.archived("example.com/ann-1")


def test_removing_deletes_the_mail_folder_and_archives_nothing(harness: Harness) -> None:
    home = harness.vmail / "example.com" / "ann"
    harness.deliver(home)
    assert harness.driver.dispose_maildir(home, archive=False, label="example.com/ann-1") == "removed"
    assert not harness.exists(home)
    assert not harness.archived("example.com/ann-1")


def test_a_domain_folder_goes_as_a_whole_and_other_domains_stay(harness: Harness) -> None:
    for home in ("example.com/ann", "example.com/bob", "example.org/ann"):
        harness.deliver(harness.vmail / home)
    domain = harness.vmail / "example.com"
    assert harness.driver.dispose_maildir(domain, archive=True, label="example.com-1") == "archived"
    assert not harness.exists(domain / "ann") and not harness.exists(domain / "bob")
    assert harness.exists(harness.vmail / "example.org" / "ann")
    assert harness.archived("example.com-1")


async def test_ending_sessions_when_the_server_does_not_run_does_nothing_and_does_not_fail(
    harness: Harness,
) -> None:
    await harness.driver.kick("ann@example.com")
