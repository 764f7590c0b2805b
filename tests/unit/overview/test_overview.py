"""The account overview (overview/service.py): what every dashboard reads about an account, from one read of the
real database: websites, plan limits and use, two-factor state and policy, last login, certificates with their
days left, recent activity; never another account's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostplane.activity.log import Actor
from hostplane.auth.principal import Client, Principal
from hostplane.auth.service import AuthService
from hostplane.domains.service import DomainService
from hostplane.errors import NotFound
from hostplane.mail.service import MailService
from hostplane.overview.service import OverviewService
from hostplane.panel.service import PanelSettingsService
from hostplane.plans.service import PlanService
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.tls.service import CertificateService
from tests.conftest import Account
from tests.unit.tls.pki import Pki, make_pki

ADMIN = Actor(None, "test")
MAILBOX_PASSWORD = "correct-horse-mailbox-7"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(plan_disk_cache_seconds=0)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("bob")
    return account


def principal_of(account: Account) -> Principal:
    return Principal(user=account.user, client=Client(ip="203.0.113.7"))


async def install(runtime: Runtime, pki: Pki, account: Account, hostname: str, days: int, source: str) -> None:
    leaf = pki.leaf(hostname, not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=days, hours=1))
    await CertificateService(runtime).install(
        account.user,
        hostname,
        certificate_pem=leaf.cert_pem,
        private_key_pem=leaf.key_pem,
        chain_pem=pki.chain_pem,
        source=source,  # type: ignore[arg-type]
    )


async def test_websites_are_split_into_main_domains_and_subdomains_with_their_docroots(
    runtime: Runtime, alice: Account, bob: Account
) -> None:
    domains = DomainService(runtime)
    await domains.add(bob.user, "bob.example")
    main = await domains.add(alice.user, "example.co.uk")
    shop = await domains.add_subdomain(alice.user, main.id, "shop")
    other = await domains.add(alice.user, "another.example")
    overview = await OverviewService(runtime).account(principal_of(alice))
    assert [(site.id, site.name, site.docroot) for site in overview.websites] == [
        (other.id, "another.example", other.docroot),
        (main.id, "example.co.uk", main.docroot),
        (shop.id, "shop.example.co.uk", shop.docroot),
    ]
    assert [site.name for site in overview.main_domains] == ["another.example", "example.co.uk"]
    assert [(site.name, site.parent_id) for site in overview.subdomains] == [("shop.example.co.uk", main.id)]


async def test_limits_and_use_come_from_the_plan_and_the_disk_is_measured_only_when_asked(
    runtime: Runtime, alice: Account
) -> None:
    plans = PlanService(runtime)
    plan = await plans.create(ADMIN, name="web", max_domains=3, max_mailboxes=9, max_disk_mb=500, features=["dns"])
    await plans.assign(ADMIN, alice.user.id, plan.plan.id)
    site = await DomainService(runtime).add(alice.user, "example.com")
    mail = MailService(runtime)
    domain = await mail.add_domain(principal_of(alice), "example.org")
    await mail.add_mailbox(principal_of(alice), domain.id, "info", MAILBOX_PASSWORD, 10)
    (Path(site.docroot) / "big.bin").write_bytes(b"x" * 3 * 2**20)
    service = OverviewService(runtime)
    quick = await service.account(principal_of(alice))
    assert quick.usage.plan_name == "web"
    limits, used = quick.usage.limits, quick.usage.used
    assert (limits["domains"], limits["mailboxes"], limits["disk_mb"]) == (3, 9, 500)
    assert (used["domains"], used["websites"], used["mailboxes"], used["mail_quota_mb"]) == (1, 1, 1, 10)
    assert quick.usage.features == ["dns"]
    assert (quick.disk_measured, quick.usage.used["disk_mb"]) == (False, 0)
    measured = await service.account(principal_of(alice), measure_disk=True)
    assert measured.disk_measured
    assert measured.usage.used["disk_mb"] >= 3


async def test_the_two_factor_state_the_policy_the_last_login_and_the_locale(runtime: Runtime, alice: Account) -> None:
    service = OverviewService(runtime)
    fresh = await service.account(principal_of(alice))
    assert (fresh.two_factor.enabled, fresh.two_factor.policy, fresh.two_factor.setup_required) == (False, False, False)
    assert (fresh.last_login_at, fresh.last_login_ip, fresh.locale) == (None, None, "en")
    await AuthService(runtime).login(alice.username, alice.password, Client(ip="198.51.100.23"))
    await PanelSettingsService(runtime).set_two_factor_policy(ADMIN, True)
    later = await service.account(principal_of(alice))
    assert (later.two_factor.policy, later.two_factor.setup_required) == (True, True)
    assert later.last_login_ip == "198.51.100.23"
    assert later.last_login_at is not None
    assert (later.username, later.email, later.role) == ("alice", "alice@example.com", "user")


async def test_certificates_come_with_their_days_left_soonest_first_and_only_the_accounts_own(
    runtime: Runtime, alice: Account, bob: Account, pki: Pki
) -> None:
    domains = DomainService(runtime)
    for name in ("later.test", "soon.test"):
        await domains.add(alice.user, name)
    await domains.add(alice.user, "plain.test")
    await domains.add(bob.user, "bob.test")
    await install(runtime, pki, alice, "later.test", 80, "upload")
    await install(runtime, pki, alice, "soon.test", 10, "acme")
    await install(runtime, pki, bob, "bob.test", 5, "upload")
    overview = await OverviewService(runtime).account(principal_of(alice))
    assert [(cert.hostname, cert.days_left, cert.source) for cert in overview.certificates] == [
        ("soon.test", 10, "acme"),
        ("later.test", 80, "upload"),
    ]
    assert all(cert.issuer == "CN=Test Intermediate CA" for cert in overview.certificates)
    assert [cert.hostname for cert in overview.certificates_expiring(30)] == ["soon.test"]
    assert overview.certificates_expiring(9) == ()


async def test_recent_activity_is_the_accounts_own_newest_first_and_only_when_asked(
    runtime: Runtime, alice: Account, bob: Account
) -> None:
    auth = AuthService(runtime)
    for _ in range(3):
        await auth.login(alice.username, alice.password, Client(ip="198.51.100.1"))
    await auth.login(bob.username, bob.password, Client(ip="198.51.100.2"))
    service = OverviewService(runtime)
    assert (await service.account(principal_of(alice))).recent_activity == ()
    recent = (await service.account(principal_of(alice), recent_activity=2)).recent_activity
    assert [item.event for item in recent] == ["auth.login.success", "auth.login.success"]
    assert recent[0].id > recent[1].id
    assert {item.ip for item in recent} == {"198.51.100.1"}
    everything = (await service.account(principal_of(alice), recent_activity=100)).recent_activity
    assert [item.event for item in everything][-1] == "admin.user.created"
    assert len(everything) == 4
    with pytest.raises(ValueError, match="recent_activity"):
        await service.account(principal_of(alice), recent_activity=101)


async def test_an_unknown_account_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        await OverviewService(runtime).of_user(12345)
