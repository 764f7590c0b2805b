"""Lookup rows change one at a time, together with the panel database, and can be rebuilt from it."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from hostplane.auth.principal import Client, Principal
from hostplane.mail.models import Mailbox, MailDomain
from hostplane.mail.service import MailService
from hostplane.runtime import Runtime
from hostplane.system import maillookup
from hostplane.system.mailpaths import MailPaths
from tests.conftest import Account
from tests.unit.mail.conftest import lookup_rows

PASSWORD = "correct-horse-mailbox-7"


def principal_of(account: Account) -> Principal:
    return Principal(user=account.user, client=Client(ip="203.0.113.7"))


async def panel_count(runtime: Runtime, model: Any) -> int:
    async with runtime.reading() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def lookup_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement run on the lookup files from now on."""
    statements: list[str] = []
    real_connect = sqlite3.connect

    def tracing_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real_connect(*args, **kwargs)
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(maillookup.sqlite3, "connect", tracing_connect)
    return statements


async def test_creating_a_mailbox_writes_only_its_own_rows_however_many_exist(
    runtime: Runtime, alice: Account, lookup_statements: list[str]
) -> None:
    service = MailService(runtime)
    me = principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    per_create: list[list[str]] = []
    for number in range(40):
        lookup_statements.clear()
        await service.add_mailbox(me, domain.id, f"user{number}", PASSWORD)
        per_create.append([s for s in lookup_statements if not s.startswith(("PRAGMA", "BEGIN", "COMMIT"))])
    first, last = per_create[0], per_create[-1]
    assert len(first) == len(last) == 2  # one row in dovecot.db, one in postfix.db
    assert all("user39@example.com" in statement for statement in last)
    assert not any(statement.lstrip().upper().startswith("DELETE") for statement in last)
    assert len(lookup_rows(runtime, "postfix", "SELECT address FROM mailboxes")) == 40


async def test_a_lookup_failure_leaves_no_mailbox_in_the_panel(
    runtime: Runtime, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = MailService(runtime)
    me = principal_of(alice)
    domain = await service.add_domain(me, "example.com")

    def broken(_self: object, _row: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(maillookup.MailLookup, "put_mailbox", broken)
    with pytest.raises(sqlite3.OperationalError):
        await service.add_mailbox(me, domain.id, "alice", PASSWORD)
    assert await panel_count(runtime, Mailbox) == 0


async def test_a_lookup_write_failing_half_way_is_taken_back(
    runtime: Runtime, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = MailService(runtime)
    me = principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    real_put = maillookup.MailLookup.put_mailbox

    def put_then_fail(self: maillookup.MailLookup, row: maillookup.MailboxRow) -> None:
        real_put(self, row)
        assert lookup_rows(runtime, "postfix", "SELECT address FROM mailboxes") == [("alice@example.com",)]
        raise RuntimeError("the panel transaction fails after the lookup write")

    monkeypatch.setattr(maillookup.MailLookup, "put_mailbox", put_then_fail)
    with pytest.raises(RuntimeError):
        await service.add_mailbox(me, domain.id, "alice", PASSWORD)
    assert await panel_count(runtime, Mailbox) == 0
    assert lookup_rows(runtime, "postfix", "SELECT address FROM mailboxes") == []
    assert lookup_rows(runtime, "dovecot", "SELECT address FROM users") == []


async def test_a_failed_panel_commit_takes_the_lookup_rows_back(
    runtime: Runtime, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = MailService(runtime)
    me = principal_of(alice)
    domain = await service.add_domain(me, "example.com")

    def refuse_commit(_session: Session) -> None:
        raise RuntimeError("the database refuses the commit")

    event.listen(Session, "before_commit", refuse_commit)
    try:
        with pytest.raises(RuntimeError, match="refuses the commit"):
            await service.add_mailbox(me, domain.id, "alice", PASSWORD)
    finally:
        event.remove(Session, "before_commit", refuse_commit)
    assert await panel_count(runtime, Mailbox) == 0
    assert lookup_rows(runtime, "postfix", "SELECT address FROM mailboxes") == []
    assert lookup_rows(runtime, "dovecot", "SELECT address FROM users") == []


async def test_a_failed_domain_deletion_puts_every_lookup_row_back(
    runtime: Runtime, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = MailService(runtime)
    me = principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    await service.add_mailbox(me, domain.id, "alice", PASSWORD)
    await service.add_alias(me, domain.id, "info", "alice@example.com")
    before = MailLookupSnapshot.of(runtime)
    real_remove = maillookup.MailLookup.remove_domain

    def remove_then_fail(self: maillookup.MailLookup, name: str) -> None:
        real_remove(self, name)
        raise RuntimeError("boom")

    monkeypatch.setattr(maillookup.MailLookup, "remove_domain", remove_then_fail)
    with pytest.raises(RuntimeError):
        await service.delete_domain(me, domain.id)
    assert await panel_count(runtime, MailDomain) == 1
    assert MailLookupSnapshot.of(runtime) == before


class MailLookupSnapshot:
    @staticmethod
    def of(runtime: Runtime) -> tuple[list[Any], ...]:
        return (
            lookup_rows(runtime, "postfix", "SELECT * FROM domains ORDER BY 1"),
            lookup_rows(runtime, "postfix", "SELECT * FROM mailboxes ORDER BY 1"),
            lookup_rows(runtime, "postfix", "SELECT * FROM aliases ORDER BY 1"),
            lookup_rows(runtime, "dovecot", "SELECT * FROM users ORDER BY 1"),
        )


async def test_reapply_rebuilds_the_lookup_files_from_the_panel_and_reports_the_drift(
    runtime: Runtime, alice: Account
) -> None:
    service = MailService(runtime)
    me = principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    await service.add_mailbox(me, domain.id, "alice", PASSWORD)
    await service.add_mailbox(me, domain.id, "bob", PASSWORD)
    await service.add_alias(me, domain.id, "info", "alice@example.com")
    wanted = MailLookupSnapshot.of(runtime)
    lookup = MailPaths.from_settings(runtime.settings).lookup
    with sqlite3.connect(lookup / "postfix.db") as db:
        db.execute("DELETE FROM mailboxes WHERE address = 'bob@example.com'")
        db.execute("INSERT INTO domains (name) VALUES ('intruder.example')")
    with sqlite3.connect(lookup / "dovecot.db") as db:
        db.execute("UPDATE users SET password = '{PLAIN}hacked' WHERE address = 'alice@example.com'")

    drift = await service.reapply()

    assert drift.extra == ["domain intruder.example"]
    assert drift.missing == ["mailbox bob@example.com"]
    assert drift.changed == ["mailbox alice@example.com"]
    assert MailLookupSnapshot.of(runtime) == wanted
    assert (await service.reapply()).clean


async def test_reapply_recreates_lost_lookup_files(runtime: Runtime, alice: Account) -> None:
    service = MailService(runtime)
    me = principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    await service.add_mailbox(me, domain.id, "alice", PASSWORD)
    wanted = MailLookupSnapshot.of(runtime)
    lookup = MailPaths.from_settings(runtime.settings).lookup
    (lookup / "postfix.db").unlink()
    (lookup / "dovecot.db").unlink()

    drift = await service.reapply()

    assert drift.missing == ["domain example.com", "mailbox alice@example.com"]
    assert MailLookupSnapshot.of(runtime) == wanted
