"""With Linux accounts managed, a hosting user's docroots belong to their account, made before the docroot; the
drivers faked (system/fake.py). The real accounts and nginx serving the files: tests/integration/websites."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from hostplane.domains.models import Domain
from hostplane.domains.service import DomainService
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.fake import FakeDrivers
from hostplane.system.ssh import SystemUserError
from tests.conftest import Account


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(manage_system_users=True)


@pytest.fixture(autouse=True)
def _fakes_first(fake_drivers: FakeDrivers) -> None:
    """The fakes are in place before any user is made (a hosting user's account is made with it)."""


async def test_a_docroot_belongs_to_the_hosting_users_account(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    assert fake_drivers.system_users.users == {"alice"}  # made with the user
    await DomainService(runtime).add(alice.user, "example.com")
    docroot = fake_drivers.docroots.path_for("alice", "example.com")
    assert fake_drivers.docroots.owners[docroot] == fake_drivers.system_users.ids["alice"]


async def test_a_domain_whose_account_cannot_be_made_is_not_added(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    fake_drivers.system_users.users.clear()  # the account went away, and cannot be made again now
    fake_drivers.system_users.fail_on.add("ensure_user")
    with pytest.raises(SystemUserError):
        await DomainService(runtime).add(alice.user, "example.com")
    async with runtime.reading() as db:
        assert list(await db.scalars(select(Domain.name))) == []
    assert fake_drivers.docroots.folders == set()
    assert fake_drivers.websites.applied == []


async def test_an_administrators_docroot_stays_roots(
    runtime: Runtime, fake_drivers: FakeDrivers, admin: Account
) -> None:
    await DomainService(runtime).add(admin.user, "example.com")
    assert fake_drivers.system_users.calls == []
    assert fake_drivers.docroots.owners == {}
