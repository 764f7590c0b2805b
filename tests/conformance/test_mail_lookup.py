"""The mail lookup's contract (MailLookupTables), kept by the SQLite files Postfix and Dovecot read (MailLookup) and
by FakeMailLookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostplane.system.fake import FakeMailLookup
from hostplane.system.interfaces import MailLookupTables
from hostplane.system.maillookup import LookupState, MailboxRow, MailLookup
from tests.conformance.conftest import IMPLEMENTATIONS

HASH = "{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


@pytest.fixture(params=IMPLEMENTATIONS)
def lookup(request: pytest.FixtureRequest, tmp_path: Path) -> MailLookupTables:
    tables: MailLookupTables = FakeMailLookup() if request.param == "fake" else MailLookup(tmp_path / "lookup")
    tables.ensure()
    return tables


def mailbox(address: str, password: str = HASH, quota_mb: int = 100) -> MailboxRow:
    local, _, domain = address.partition("@")
    return MailboxRow(address, password, f"/srv/vmail/{domain}/{local}", quota_mb)


def test_rows_put_are_read_back(lookup: MailLookupTables) -> None:
    lookup.put_domain("example.com")
    lookup.put_mailbox(mailbox("ann@example.com"))
    lookup.put_alias("info@example.com", "ann@example.com")
    state = lookup.read()
    assert state.domains == {"example.com"}
    assert state.mailboxes == {"ann@example.com": mailbox("ann@example.com")}
    assert state.aliases == {("info@example.com", "ann@example.com")}


def test_puts_replace_and_removes_of_absent_rows_are_no_ops(lookup: MailLookupTables) -> None:
    lookup.put_domain("example.com")
    lookup.put_domain("example.com")
    lookup.put_mailbox(mailbox("ann@example.com", quota_mb=100))
    lookup.put_mailbox(mailbox("ann@example.com", quota_mb=200))
    lookup.put_alias("info@example.com", "ann@example.com")
    lookup.put_alias("info@example.com", "ann@example.com")
    lookup.remove_mailbox("nobody@example.com")
    lookup.remove_alias("info@example.com", "nobody@example.com")
    lookup.remove_domain("example.org")
    state = lookup.read()
    assert state.domains == {"example.com"}
    assert state.mailboxes == {"ann@example.com": mailbox("ann@example.com", quota_mb=200)}
    assert state.aliases == {("info@example.com", "ann@example.com")}


def test_removing_rows_takes_exactly_them(lookup: MailLookupTables) -> None:
    lookup.put_domain("example.com")
    lookup.put_mailbox(mailbox("ann@example.com"))
    lookup.put_mailbox(mailbox("bob@example.com"))
    lookup.put_alias("info@example.com", "ann@example.com")
    lookup.put_alias("info@example.com", "bob@example.com")
    lookup.remove_mailbox("ann@example.com")
    lookup.remove_alias("info@example.com", "ann@example.com")
    state = lookup.read()
    assert set(state.mailboxes) == {"bob@example.com"}
    assert state.aliases == {("info@example.com", "bob@example.com")}


def test_removing_a_domain_removes_its_mailboxes_and_aliases_and_nothing_else(lookup: MailLookupTables) -> None:
    for domain in ("example.com", "example.org"):
        lookup.put_domain(domain)
        lookup.put_mailbox(mailbox(f"ann@{domain}"))
        lookup.put_alias(f"info@{domain}", "ann@example.com")
    lookup.remove_domain("example.com")
    state = lookup.read()
    assert state.domains == {"example.org"}
    assert set(state.mailboxes) == {"ann@example.org"}
    assert state.aliases == {("info@example.org", "ann@example.com")}


def test_a_password_is_changed_in_place_and_an_unknown_address_is_a_lookup_error(lookup: MailLookupTables) -> None:
    lookup.put_domain("example.com")
    lookup.put_mailbox(mailbox("ann@example.com"))
    lookup.set_password("ann@example.com", HASH + "x")
    assert lookup.read().mailboxes["ann@example.com"] == mailbox("ann@example.com", password=HASH + "x")
    with pytest.raises(LookupError):
        lookup.set_password("bob@example.com", HASH)
    assert set(lookup.read().mailboxes) == {"ann@example.com"}


def test_rebuild_reports_every_difference_and_leaves_exactly_the_desired_rows(lookup: MailLookupTables) -> None:
    lookup.put_domain("example.com")
    lookup.put_domain("stale.test")
    lookup.put_mailbox(mailbox("ann@example.com"))
    lookup.put_mailbox(mailbox("old@example.com"))
    lookup.put_alias("info@example.com", "old@example.com")
    desired = LookupState(
        domains={"example.com", "example.org"},
        mailboxes={
            "ann@example.com": mailbox("ann@example.com", quota_mb=5),
            "bob@example.org": mailbox("bob@example.org"),
        },
        aliases={("info@example.com", "ann@example.com")},
    )
    drift = lookup.rebuild(desired)
    assert drift.missing == [
        "domain example.org",
        "mailbox bob@example.org",
        "alias info@example.com -> ann@example.com",
    ]
    assert drift.extra == ["domain stale.test", "mailbox old@example.com", "alias info@example.com -> old@example.com"]
    assert drift.changed == ["mailbox ann@example.com"]
    assert lookup.read() == desired
    assert lookup.rebuild(desired).clean
    assert lookup.read() == desired


def test_rebuild_of_what_is_already_there_is_clean(lookup: MailLookupTables) -> None:
    lookup.put_domain("example.com")
    lookup.put_mailbox(mailbox("ann@example.com"))
    assert lookup.rebuild(lookup.read()).clean
