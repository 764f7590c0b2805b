"""The rollback paths of the websites' unit of work (domains/websites.py), with the drivers faked (system/fake.py):
whatever fails (nginx refusing the configuration, the reload, the commit), no row, no docroot and no vhost is left
and the committed configuration stays live. The real nginx keeps these rules: tests/conformance/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.domains.models import Domain
from hostplane.domains.service import DomainService
from hostplane.errors import LimitReached, ServiceConfigRejected, ServiceFailed
from hostplane.plans.models import Plan, UserPlan
from hostplane.runtime import Runtime
from hostplane.system.fake import FakeDrivers
from tests.conftest import Account


async def domain_names(runtime: Runtime) -> list[str]:
    async with runtime.reading() as db:
        return list(await db.scalars(select(Domain.name).order_by(Domain.name)))


async def test_a_domain_added_is_live_with_its_docroot_and_default_page(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    domain = await DomainService(runtime).add(alice.user, "example.com")
    assert fake_drivers.websites.live_names == ["example.com"]
    docroot = fake_drivers.docroots.path_for("alice", "example.com")
    assert str(docroot) == domain.docroot
    assert b"example.com" in fake_drivers.docroots.files[docroot / "index.html"]


async def test_a_domain_nginx_refuses_leaves_no_row_no_docroot_and_the_previous_configuration_live(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    service = DomainService(runtime)
    await service.add(alice.user, "kept.test")
    folders_before = set(fake_drivers.docroots.folders)
    fake_drivers.websites.refuse_next()
    with pytest.raises(ServiceConfigRejected):
        await service.add(alice.user, "refused.test")
    assert await domain_names(runtime) == ["kept.test"]
    assert fake_drivers.docroots.folders == folders_before
    assert not fake_drivers.docroots.exists(fake_drivers.docroots.path_for("alice", "refused.test"))
    assert fake_drivers.websites.live_names == ["kept.test"]
    assert [site.name for site in fake_drivers.websites.refused[-1]] == ["kept.test", "refused.test"]
    await service.add(alice.user, "refused.test")  # nothing was left behind: the same name goes through now
    assert fake_drivers.websites.live_names == ["kept.test", "refused.test"]


async def test_a_failed_reload_takes_the_domain_back_too(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    fake_drivers.websites.fail_next_reload()
    with pytest.raises(ServiceFailed):
        await DomainService(runtime).add(alice.user, "example.com")
    assert await domain_names(runtime) == []
    assert fake_drivers.docroots.folders == set()
    assert fake_drivers.websites.live is None


async def test_a_subdomain_refused_leaves_the_main_domain_as_it_was(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    service = DomainService(runtime)
    parent = await service.add(alice.user, "example.com")
    fake_drivers.websites.refuse_next()
    with pytest.raises(ServiceConfigRejected):
        await service.add_subdomain(alice.user, parent.id, "blog")
    assert await domain_names(runtime) == ["example.com"]
    assert not fake_drivers.docroots.exists(fake_drivers.docroots.path_for("alice", "blog.example.com"))
    assert fake_drivers.docroots.exists(fake_drivers.docroots.path_for("alice", "example.com"))
    assert fake_drivers.websites.live_names == ["example.com"]


async def test_a_deletion_nginx_refuses_keeps_the_row_and_the_site_live(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    service = DomainService(runtime)
    domain = await service.add(alice.user, "example.com")
    fake_drivers.websites.refuse_next()
    with pytest.raises(ServiceConfigRejected):
        await service.delete(alice.user, domain.id)
    assert await domain_names(runtime) == ["example.com"]
    assert fake_drivers.websites.live_names == ["example.com"]
    await service.delete(alice.user, domain.id)
    assert await domain_names(runtime) == []
    assert fake_drivers.websites.live_names == []
    assert fake_drivers.docroots.exists(fake_drivers.docroots.path_for("alice", "example.com"))  # files are kept


async def test_a_commit_that_fails_after_the_swap_puts_the_committed_configuration_back(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = DomainService(runtime)
    await service.add(alice.user, "kept.test")
    real_writing = runtime.writing

    @asynccontextmanager
    async def failing_commit(**kwargs: Any) -> AsyncIterator[AsyncSession]:
        async with real_writing(**kwargs) as db:
            yield db
            raise OperationalError("COMMIT", {}, Exception("disk I/O error (test)"))

    monkeypatch.setattr(runtime, "writing", failing_commit)
    with pytest.raises(OperationalError):
        await service.add(alice.user, "lost.test")
    monkeypatch.undo()
    assert await domain_names(runtime) == ["kept.test"]
    live = fake_drivers.websites.applied
    assert [site.name for site in live[-2]] == ["kept.test", "lost.test"]  # swapped in, then...
    assert fake_drivers.websites.live_names == ["kept.test"]  # ...the committed state put back
    assert not fake_drivers.docroots.exists(fake_drivers.docroots.path_for("alice", "lost.test"))


async def test_a_refused_domain_does_not_use_up_the_plan(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    async with runtime.writing() as db:
        plan = Plan(name="one-site", max_domains=1, max_websites=1)
        db.add(plan)
        await db.flush()
        db.add(UserPlan(user_id=alice.user.id, plan_id=plan.id))
    service = DomainService(runtime)
    for attempt in range(3):
        fake_drivers.websites.refuse_next()
        with pytest.raises(ServiceConfigRejected):
            await service.add(alice.user, f"try{attempt}.test")
    await service.add(alice.user, "finally.test")
    with pytest.raises(LimitReached):
        await service.add(alice.user, "one-too-many.test")
    assert await domain_names(runtime) == ["finally.test"]


async def test_reconcile_puts_back_a_lost_vhost_and_a_lost_docroot(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    service = DomainService(runtime)
    await service.add(alice.user, "example.com")
    docroot = fake_drivers.docroots.path_for("alice", "example.com")
    fake_drivers.websites.lose_vhost("example.com")
    fake_drivers.docroots.remove([docroot])
    drift = await service.reconcile()
    assert drift.missing == ["sites/example.com.conf"] and drift.repaired
    assert fake_drivers.websites.live_names == ["example.com"]
    assert fake_drivers.docroots.exists(docroot)
    assert (await service.reconcile()).clean
