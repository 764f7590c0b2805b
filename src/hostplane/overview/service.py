"""The account overview: one consistent read of what a dashboard shows about an account.

Every dashboard reads it here (the OpenPanel dialect maps it onto its own shape; the web UI's dashboard shows the
same facts): the account (locale, last login and its address), its two-factor state and the panel's policy, its
websites (main domains and subdomains with their docroots), its plan's limits and what it uses, its certificates
with the days each has left (soonest expiry first), and optionally its recent activity. All of it comes from one
read transaction, as plain dataclasses: no ORM object leaves this module.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from hostplane.activity.log import list_activity
from hostplane.auth.models import User
from hostplane.auth.principal import Principal
from hostplane.domains.models import Domain
from hostplane.errors import NotFound
from hostplane.panel.service import two_factor_policy_on
from hostplane.plans.limits import PlanUsage, usage
from hostplane.runtime import Runtime
from hostplane.tls.models import TlsCertificate
from hostplane.tls.service import days_until

MAX_RECENT_ACTIVITY = 100
EXPIRING_SOON_DAYS = 30


@dataclass(frozen=True)
class Website:
    """A domain or subdomain of the account: each is a website with its own docroot."""

    id: int
    name: str
    docroot: str
    parent_id: int | None
    """The main domain of a subdomain; None for a main domain."""
    created_at: dt.datetime

    @property
    def is_subdomain(self) -> bool:
        return self.parent_id is not None


@dataclass(frozen=True)
class Certificate:
    """A certificate installed on one of the account's websites."""

    domain_id: int
    hostname: str
    issuer: str
    source: str
    """"upload" or "acme"."""
    not_after: dt.datetime
    days_left: int
    """Whole days left when the overview was read (rounded down; negative once expired)."""


@dataclass(frozen=True)
class ActivityItem:
    id: int
    event: str
    created_at: dt.datetime
    ip: str | None
    via_api_key: bool
    properties: dict[str, Any]


@dataclass(frozen=True)
class TwoFactor:
    enabled: bool
    """The account has two-factor on."""
    policy: bool
    """The panel's policy requires two-factor of every account."""

    @property
    def setup_required(self) -> bool:
        """The policy waits for this account to set two-factor up."""
        return self.policy and not self.enabled


@dataclass(frozen=True)
class AccountOverview:
    user_id: int
    username: str
    email: str
    role: str
    locale: str
    last_login_at: dt.datetime | None
    last_login_ip: str | None
    two_factor: TwoFactor
    websites: tuple[Website, ...]
    """Main domains and subdomains, by name."""
    usage: PlanUsage
    """The plan's limits (0 = unlimited) and the current use; `disk_mb` is 0 unless measured."""
    disk_measured: bool
    certificates: tuple[Certificate, ...]
    """Soonest expiry first."""
    recent_activity: tuple[ActivityItem, ...]
    """Newest first; empty unless asked for."""

    @property
    def main_domains(self) -> tuple[Website, ...]:
        return tuple(site for site in self.websites if not site.is_subdomain)

    @property
    def subdomains(self) -> tuple[Website, ...]:
        return tuple(site for site in self.websites if site.is_subdomain)

    def certificates_expiring(self, within_days: int = EXPIRING_SOON_DAYS) -> tuple[Certificate, ...]:
        """The certificates with at most `within_days` days left (expired ones included), soonest first."""
        return tuple(cert for cert in self.certificates if cert.days_left <= within_days)


class OverviewService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def account(
        self, principal: Principal, *, measure_disk: bool = False, recent_activity: int = 0
    ) -> AccountOverview:
        """The overview of the principal's own account. `measure_disk`: walk the docroots and Maildirs for the
        disk use (cached briefly; a dashboard that does not show it leaves it off); `recent_activity`: how many of
        the newest activity entries to include (0 to 100)."""
        return await self.of_user(principal.user.id, measure_disk=measure_disk, recent_activity=recent_activity)

    async def of_user(self, user_id: int, *, measure_disk: bool = False, recent_activity: int = 0) -> AccountOverview:
        """The overview of any account by id (for the admin's views and the principal's own); 404 if none."""
        if not 0 <= recent_activity <= MAX_RECENT_ACTIVITY:
            raise ValueError(f"recent_activity must be 0 to {MAX_RECENT_ACTIVITY}")
        async with self.rt.reading() as db:
            user = await db.get(User, user_id)
            if user is None:
                raise NotFound("User not found")
            domains = await db.scalars(select(Domain).where(Domain.user_id == user_id).order_by(Domain.name))
            websites = tuple(
                Website(id=d.id, name=d.name, docroot=d.docroot, parent_id=d.parent_id, created_at=d.created_at)
                for d in domains
            )
            plan_usage = await usage(db, user_id, settings=self.rt.settings if measure_disk else None)
            policy = await two_factor_policy_on(db)
            certificates = await db.execute(
                select(
                    TlsCertificate.domain_id,
                    TlsCertificate.hostname,
                    TlsCertificate.issuer,
                    TlsCertificate.source,
                    TlsCertificate.not_after,
                )
                .join(Domain, Domain.id == TlsCertificate.domain_id)
                .where(Domain.user_id == user_id)
                .order_by(TlsCertificate.not_after, TlsCertificate.hostname)
            )
            now = dt.datetime.now(dt.UTC)
            certs = tuple(
                Certificate(
                    domain_id=domain_id,
                    hostname=hostname,
                    issuer=issuer,
                    source=source,
                    not_after=not_after,
                    days_left=days_until(not_after, now),
                )
                for domain_id, hostname, issuer, source, not_after in certificates
            )
            activity: tuple[ActivityItem, ...] = ()
            if recent_activity:
                page = await list_activity(db, user_id=user_id, page=1, per_page=recent_activity)
                activity = tuple(
                    ActivityItem(
                        id=entry.id,
                        event=entry.event,
                        created_at=entry.created_at,
                        ip=entry.ip,
                        via_api_key=entry.api_key is not None,
                        properties=dict(entry.properties or {}),
                    )
                    for entry in page.entries
                )
            return AccountOverview(
                user_id=user.id,
                username=user.username,
                email=user.email,
                role=user.role,
                locale=user.language,
                last_login_at=user.last_login_at,
                last_login_ip=user.last_login_ip,
                two_factor=TwoFactor(enabled=user.twofa_enabled, policy=policy),
                websites=websites,
                usage=plan_usage,
                disk_measured=measure_disk,
                certificates=certs,
                recent_activity=activity,
            )
