"""The rollback paths of the mail unit of work (mail/service.py `MailService.change`) and of DKIM keys, with the
drivers faked (system/fake.py): when a lookup write fails, before its change or half-way through it, the panel rows
roll back and the lookup rows are what they were; the mailbox server is told nothing. The real lookup files and
signer keep these rules: tests/conformance/."""

from __future__ import annotations

import copy
import sqlite3
from typing import Any

import pytest
from sqlalchemy import func, select

from hostplane.auth.principal import Client, Principal
from hostplane.mail.dkim import DkimService
from hostplane.mail.models import DkimKey, MailAlias, Mailbox, MailDomain
from hostplane.mail.service import MailService
from hostplane.runtime import Runtime
from hostplane.system.fake import FakeDrivers
from hostplane.system.mailpaths import MailPaths
from tests.conftest import Account

PASSWORD = "correct-horse-mailbox-7"


def principal_of(account: Account) -> Principal:
    return Principal(user=account.user, client=Client(ip="203.0.113.7"))


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.reading() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture(params=["fail_on", "fail_after"])
def failure(request: pytest.FixtureRequest) -> str:
    """Where the lookup write fails: before changing anything, or after making its change (half-way)."""
    kind: str = request.param
    return kind


async def test_a_mailbox_whose_lookup_write_fails_leaves_no_row_and_the_lookup_unchanged(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, failure: str
) -> None:
    service, me = MailService(runtime), principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    await service.add_mailbox(me, domain.id, "ann", PASSWORD)
    before = copy.deepcopy(fake_drivers.mail_lookup.state)
    getattr(fake_drivers.mail_lookup, failure).add("put_mailbox")
    with pytest.raises(sqlite3.OperationalError):
        await service.add_mailbox(me, domain.id, "bob", PASSWORD)
    assert await count(runtime, Mailbox) == 1
    assert fake_drivers.mail_lookup.state == before
    getattr(fake_drivers.mail_lookup, failure).clear()
    await service.add_mailbox(me, domain.id, "bob", PASSWORD)  # the address and the quota were not kept
    assert set(fake_drivers.mail_lookup.state.mailboxes) == {"ann@example.com", "bob@example.com"}


async def test_a_mail_domain_whose_lookup_write_fails_leaves_no_row(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, failure: str
) -> None:
    getattr(fake_drivers.mail_lookup, failure).add("put_domain")
    with pytest.raises(sqlite3.OperationalError):
        await MailService(runtime).add_domain(principal_of(alice), "example.com")
    assert await count(runtime, MailDomain) == 0
    assert fake_drivers.mail_lookup.state.domains == set()


async def test_a_password_change_whose_lookup_write_fails_keeps_the_old_password_everywhere(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, failure: str
) -> None:
    service, me = MailService(runtime), principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    view = await service.add_mailbox(me, domain.id, "ann", PASSWORD)
    old_row = fake_drivers.mail_lookup.state.mailboxes["ann@example.com"]
    getattr(fake_drivers.mail_lookup, failure).add("set_password")
    with pytest.raises(sqlite3.OperationalError):
        await service.change_password(me, view.mailbox.id, "another-horse-mailbox-8")
    assert fake_drivers.mail_lookup.state.mailboxes["ann@example.com"] == old_row
    async with runtime.reading() as db:
        stored = await db.scalar(select(Mailbox.password_hash).where(Mailbox.id == view.mailbox.id))
    assert old_row.password.endswith(str(stored))
    assert fake_drivers.mailboxes.kicks == []  # the sessions of a password that did not change stay


async def test_a_deletion_whose_lookup_write_fails_keeps_the_mailbox_and_its_mail(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, failure: str
) -> None:
    service, me = MailService(runtime), principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    view = await service.add_mailbox(me, domain.id, "ann", PASSWORD)
    home = MailPaths.from_settings(runtime.settings).mailbox_home("example.com", "ann")
    fake_drivers.mailboxes.maildirs.add(home)
    before = copy.deepcopy(fake_drivers.mail_lookup.state)
    getattr(fake_drivers.mail_lookup, failure).add("remove_mailbox")
    with pytest.raises(sqlite3.OperationalError):
        await service.delete_mailbox(me, view.mailbox.id)
    assert await count(runtime, Mailbox) == 1
    assert fake_drivers.mail_lookup.state == before
    assert fake_drivers.mailboxes.kicks == []
    assert fake_drivers.mailboxes.maildirs == {home}


async def test_an_alias_whose_lookup_write_fails_leaves_no_row(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, failure: str
) -> None:
    service, me = MailService(runtime), principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    getattr(fake_drivers.mail_lookup, failure).add("put_alias")
    with pytest.raises(sqlite3.OperationalError):
        await service.add_alias(me, domain.id, "info", "someone@example.org")
    assert await count(runtime, MailAlias) == 0
    assert fake_drivers.mail_lookup.state.aliases == set()


async def test_a_domain_whose_lookup_removal_fails_keeps_every_row_and_mailbox(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, failure: str
) -> None:
    service, me = MailService(runtime), principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    await service.add_mailbox(me, domain.id, "ann", PASSWORD)
    await service.add_alias(me, domain.id, "info", "ann@example.com")
    before = copy.deepcopy(fake_drivers.mail_lookup.state)
    getattr(fake_drivers.mail_lookup, failure).add("remove_domain")
    with pytest.raises(sqlite3.OperationalError):
        await service.delete_domain(me, domain.id)
    assert (await count(runtime, MailDomain), await count(runtime, Mailbox), await count(runtime, MailAlias)) == (
        1,
        1,
        1,
    )
    assert fake_drivers.mail_lookup.state == before
    assert fake_drivers.mailboxes.kicks == []


async def test_a_deleted_domain_ends_its_sessions_archives_its_mail_and_forgets_its_key(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    service, me = MailService(runtime), principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    await service.add_mailbox(me, domain.id, "ann", PASSWORD)
    await service.add_mailbox(me, domain.id, "bob", PASSWORD)
    await DkimService(runtime).ensure(me, domain.id)
    vmail = MailPaths.from_settings(runtime.settings).vmail
    fake_drivers.mailboxes.maildirs.add(vmail / "example.com" / "ann")
    assert await service.delete_domain(me, domain.id) == "archived"
    assert sorted(fake_drivers.mailboxes.kicks) == ["ann@example.com", "bob@example.com"]
    assert list(fake_drivers.mailboxes.archived.values()) == [vmail / "example.com"]
    assert fake_drivers.mail_lookup.state.domains == set() and fake_drivers.mail_lookup.state.mailboxes == {}
    assert fake_drivers.dkim.keys == {}


async def test_a_dkim_key_the_signer_cannot_install_is_not_stored(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    service, me = MailService(runtime), principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    fake_drivers.dkim.fail_on.add("put_key")
    with pytest.raises(OSError, match="fake"):
        await DkimService(runtime).ensure(me, domain.id)
    assert await count(runtime, DkimKey) == 0
    assert fake_drivers.dkim.keys == {}
    fake_drivers.dkim.fail_on.clear()
    record = await DkimService(runtime).ensure(me, domain.id)
    assert fake_drivers.dkim.installed_keys()[0].dns_name == record.txt_name


async def test_reapply_puts_the_lookup_rows_and_keys_back_from_the_database(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    service, me = MailService(runtime), principal_of(alice)
    domain = await service.add_domain(me, "example.com")
    await service.add_mailbox(me, domain.id, "ann", PASSWORD)
    await DkimService(runtime).ensure(me, domain.id)
    fake_drivers.mail_lookup.state.mailboxes.clear()
    fake_drivers.dkim.keys.clear()
    drift = await service.reapply()
    assert drift.missing == ["mailbox ann@example.com"]
    assert set(fake_drivers.mail_lookup.state.mailboxes) == {"ann@example.com"}
    assert await DkimService(runtime).reapply() == ["dkim key mail._domainkey.example.com added"]
    assert (await service.reapply()).clean
