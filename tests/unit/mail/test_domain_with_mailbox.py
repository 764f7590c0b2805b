"""MailService.add_domain_with_mailbox: a mail domain and its first mailbox in one unit of work (the panel rows and
the lookup rows the daemons read), or neither. Whatever refuses or breaks the mailbox leaves no domain behind."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from hostplane.activity.log import Actor
from hostplane.errors import Conflict, InvalidInput, LimitReached
from hostplane.mail.models import Mailbox, MailDomain
from hostplane.mail.service import MailChange, MailService
from hostplane.plans.service import PlanService
from hostplane.runtime import Runtime
from hostplane.system import maillookup
from tests.conftest import Account
from tests.unit.mail.conftest import lookup_rows
from tests.unit.mail.test_lookup_units import PASSWORD, panel_count, principal_of
from tests.unit.mail.test_mail_api import addresses_in_lookup, domains_in_lookup

ADMIN = Actor(None, "test")
NOTHING = ([], ([], []))


def lookup(runtime: Runtime) -> tuple[list[str], tuple[list[str], list[str]]]:
    return domains_in_lookup(runtime), addresses_in_lookup(runtime)


async def panel(runtime: Runtime) -> tuple[int, int]:
    return await panel_count(runtime, MailDomain), await panel_count(runtime, Mailbox)


async def put_on_plan(runtime: Runtime, account: Account, **limits: int) -> None:
    plans = PlanService(runtime)
    plan = await plans.create(ADMIN, name="small", **limits)
    await plans.assign(ADMIN, account.user.id, plan.plan.id)


async def test_the_domain_and_its_first_mailbox_are_made_together(runtime: Runtime, alice: Account) -> None:
    view = await MailService(runtime).add_domain_with_mailbox(principal_of(alice), "Example.COM", "Info", PASSWORD, 25)
    assert (view.domain.name, view.address, view.mailbox.quota_mb) == ("example.com", "info@example.com", 25)
    assert view.domain.user_id == alice.user.id
    assert await panel(runtime) == (1, 1)
    assert lookup(runtime) == (["example.com"], (["info@example.com"], ["info@example.com"]))
    listed = await MailService(runtime).list_domains(principal_of(alice))
    assert [(domain.name, count) for domain, count in listed] == [("example.com", 1)]


async def test_the_default_quota_applies_when_none_is_given(runtime: Runtime, alice: Account) -> None:
    view = await MailService(runtime).add_domain_with_mailbox(principal_of(alice), "example.com", "info", PASSWORD)
    assert view.mailbox.quota_mb == runtime.settings.mail_default_quota_mb


@pytest.mark.parametrize("password", ["short", "password123", "info@example.com", "pass\r\nword-long-enough"])
async def test_a_refused_password_leaves_no_domain(runtime: Runtime, alice: Account, password: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await MailService(runtime).add_domain_with_mailbox(principal_of(alice), "example.com", "info", password)
    assert refused.value.fields[0].field == "password"
    assert await panel(runtime) == (0, 0)
    assert lookup(runtime) == NOTHING


@pytest.mark.parametrize(("name", "local"), [("../etc", "info"), ("example.com", "../x"), ("example.com", "a b")])
async def test_a_bad_name_or_local_part_leaves_nothing(runtime: Runtime, alice: Account, name: str, local: str) -> None:
    with pytest.raises(InvalidInput):
        await MailService(runtime).add_domain_with_mailbox(principal_of(alice), name, local, PASSWORD)
    assert await panel(runtime) == (0, 0)
    assert lookup(runtime) == NOTHING


async def test_a_mailbox_over_the_plans_limit_leaves_no_new_domain(runtime: Runtime, alice: Account) -> None:
    await put_on_plan(runtime, alice, max_mailboxes=1)
    service, me = MailService(runtime), principal_of(alice)
    await service.add_domain_with_mailbox(me, "first.example", "info", PASSWORD)
    before = lookup(runtime)
    with pytest.raises(LimitReached):
        await service.add_domain_with_mailbox(me, "second.example", "info", PASSWORD)
    assert await panel(runtime) == (1, 1)
    assert lookup(runtime) == before == (["first.example"], (["info@first.example"], ["info@first.example"]))


async def test_a_mailbox_without_quota_under_a_quota_limit_leaves_no_domain(runtime: Runtime, alice: Account) -> None:
    await put_on_plan(runtime, alice, max_mail_quota_mb=100)
    with pytest.raises(LimitReached):
        await MailService(runtime).add_domain_with_mailbox(principal_of(alice), "example.com", "info", PASSWORD, 0)
    assert await panel(runtime) == (0, 0)
    assert lookup(runtime) == NOTHING


async def test_an_existing_domain_is_a_conflict_and_stays_as_it_was(runtime: Runtime, alice: Account) -> None:
    service, me = MailService(runtime), principal_of(alice)
    await service.add_domain_with_mailbox(me, "example.com", "info", PASSWORD)
    before = lookup(runtime)
    with pytest.raises(Conflict):
        await service.add_domain_with_mailbox(me, "example.com", "sales", PASSWORD)
    assert await panel(runtime) == (1, 1)
    assert lookup(runtime) == before


async def test_a_mailbox_lookup_write_failing_takes_the_domains_lookup_row_back(
    runtime: Runtime, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = maillookup.MailLookup.put_mailbox

    def put_then_fail(self: maillookup.MailLookup, row: maillookup.MailboxRow) -> None:
        real_put(self, row)
        assert lookup(runtime) == (["example.com"], (["info@example.com"], ["info@example.com"]))
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(maillookup.MailLookup, "put_mailbox", put_then_fail)
    with pytest.raises(sqlite3.OperationalError):
        await MailService(runtime).add_domain_with_mailbox(principal_of(alice), "example.com", "info", PASSWORD)
    assert await panel(runtime) == (0, 0)
    assert lookup(runtime) == NOTHING


async def test_a_failed_panel_commit_takes_both_lookup_rows_back(runtime: Runtime, alice: Account) -> None:
    def refuse_commit(_session: Session) -> None:
        raise RuntimeError("the database refuses the commit")

    event.listen(Session, "before_commit", refuse_commit)
    try:
        with pytest.raises(RuntimeError, match="refuses the commit"):
            await MailService(runtime).add_domain_with_mailbox(principal_of(alice), "example.com", "info", PASSWORD)
    finally:
        event.remove(Session, "before_commit", refuse_commit)
    assert await panel(runtime) == (0, 0)
    assert lookup(runtime) == NOTHING


async def test_the_password_is_hashed_before_the_unit_opens_and_the_unit_is_one(
    runtime: Runtime, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    real_hash, real_change = runtime.hashing.hash, MailService.change

    async def hashing(password: str) -> str:
        steps.append("hash")
        return await real_hash(password)

    @asynccontextmanager
    async def change(self: MailService) -> AsyncIterator[MailChange]:
        steps.append("unit")
        async with real_change(self) as unit:
            yield unit
        steps.append("committed")

    monkeypatch.setattr(runtime.hashing, "hash", hashing)
    monkeypatch.setattr(MailService, "change", change)
    await MailService(runtime).add_domain_with_mailbox(principal_of(alice), "example.com", "info", PASSWORD)
    assert steps == ["hash", "unit", "committed"]


async def test_the_first_mailbox_has_the_hash_of_its_password(runtime: Runtime, alice: Account) -> None:
    await MailService(runtime).add_domain_with_mailbox(principal_of(alice), "example.com", "info", PASSWORD)
    [(stored,)] = lookup_rows(runtime, "dovecot", "SELECT password FROM users")
    assert stored.startswith("{ARGON2ID}$argon2id$")
    assert (await runtime.hashing.verify(stored.removeprefix("{ARGON2ID}"), PASSWORD))[0]
