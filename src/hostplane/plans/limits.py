"""Plan limits: `reserve` before a create, inside the creating unit of work; `usage` for dashboards.

Semantics (the plan is the user's row in user_plans, else the plan flagged `is_default`, else no limits):
- every limit is a whole number where 0 means unlimited;
- `domains` counts main domains, `websites` every domain and subdomain (each is a vhost with a docroot),
  `mailboxes` the mailboxes of all the user's mail domains, `mail_quota_mb` the sum of their quotas. Under a
  mail quota limit a mailbox must have a quota: an unlimited one (0) is refused;
- `disk_mb` is measured, not reserved: the user's www folder and the Maildirs of their mail domains, walked in a
  thread without following links and cached for `plan_disk_cache_seconds`. Once the measure reaches the limit,
  every create (domain, website, mail domain, mailbox) is refused. Files written over SSH or by the mail
  server are not stopped by the panel (no filesystem quota): the disk limit is a gate on growing the account;
- a limit lowered below what the user has takes nothing away: only new creates are refused.

Race-free: `reserve` first locks the user's row (SELECT ... FOR UPDATE on PostgreSQL; on SQLite a write unit
already holds the database's single write lock from BEGIN IMMEDIATE), then counts and lets the caller insert
in the same transaction, so concurrent creates of one user are serialised between the count and the commit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.auth.models import User
from hostplane.domains.models import Domain
from hostplane.errors import LimitReached, NotFound
from hostplane.mail.models import Mailbox, MailDomain
from hostplane.plans.models import FEATURES, Plan, UserPlan
from hostplane.settings import Settings
from hostplane.system.disk import tree_bytes
from hostplane.system.mailpaths import MailPaths

Resource = Literal["domains", "websites", "mailboxes", "mail_quota_mb", "disk_mb"]
RESOURCES: tuple[Resource, ...] = ("domains", "websites", "mailboxes", "mail_quota_mb", "disk_mb")
LABELS: dict[Resource, str] = {
    "domains": "domains",
    "websites": "websites (domains and subdomains)",
    "mailboxes": "mailboxes",
    "mail_quota_mb": "MB of mailbox quota in total",
    "disk_mb": "MB of disk space",
}
MIB = 1024 * 1024


def plan_limit(plan: Plan | None, resource: Resource) -> int:
    """The plan's limit for a resource; 0 = unlimited (also when there is no plan at all)."""
    if plan is None:
        return 0
    value: int = getattr(plan, f"max_{resource}")
    return value


@dataclass(frozen=True)
class PlanUsage:
    """A user's plan, its limits (0 = unlimited) and what the user uses now."""

    user_id: int
    plan_id: int | None
    plan_name: str | None
    """None: no plan assigned and no default plan, so no limits."""
    assigned: bool
    """The plan is assigned to the user (False: the default plan, or none)."""
    limits: dict[str, int]
    used: dict[str, int]
    features: list[str] = field(default_factory=list)


async def plan_of(db: AsyncSession, user_id: int) -> tuple[Plan | None, bool]:
    """(the plan that applies to the user, whether it is assigned rather than the default)."""
    assigned = await db.scalar(
        select(Plan).join(UserPlan, UserPlan.plan_id == Plan.id).where(UserPlan.user_id == user_id)
    )
    if assigned is not None:
        return assigned, True
    default = await db.scalar(select(Plan).where(Plan.is_default.is_(True)).order_by(Plan.id).limit(1))
    return default, False


async def _count(db: AsyncSession, user_id: int, resource: Resource) -> int:
    if resource == "domains":
        query = select(func.count()).select_from(Domain).where(Domain.user_id == user_id, Domain.parent_id.is_(None))
    elif resource == "websites":
        query = select(func.count()).select_from(Domain).where(Domain.user_id == user_id)
    elif resource == "mailboxes":
        query = (
            select(func.count())
            .select_from(Mailbox)
            .join(MailDomain, MailDomain.id == Mailbox.domain_id)
            .where(MailDomain.user_id == user_id)
        )
    elif resource == "mail_quota_mb":
        query = (
            select(func.coalesce(func.sum(Mailbox.quota_mb), 0))
            .join(MailDomain, MailDomain.id == Mailbox.domain_id)
            .where(MailDomain.user_id == user_id)
        )
    else:
        raise ValueError(f"{resource} is measured, not counted")
    return int(await db.scalar(query) or 0)


# --- disk -------------------------------------------------------------------------------------------------------

_disk_cache: dict[tuple[str, ...], tuple[float, int]] = {}
DISK_CACHE_ENTRIES = 10_000


def _disk_roots(settings: Settings, username: str, mail_domains: Iterable[str]) -> list[Path]:
    vmail = MailPaths.from_settings(settings).vmail
    return [settings.resolved_www_dir / username, *(vmail / name for name in sorted(mail_domains))]


async def measure_disk_mb(settings: Settings, username: str, mail_domains: Iterable[str]) -> int:
    """The user's disk use in MB (rounded up), measured in a thread and cached briefly."""
    roots = _disk_roots(settings, username, mail_domains)
    key = tuple(str(root) for root in roots)
    now = time.monotonic()
    cached = _disk_cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    used = math.ceil(sum([await asyncio.to_thread(tree_bytes, root) for root in roots]) / MIB)
    if settings.plan_disk_cache_seconds > 0:
        if len(_disk_cache) >= DISK_CACHE_ENTRIES:  # drop what expired (keys change when mail domains do)
            for stale in [k for k, (until, _) in _disk_cache.items() if until <= now] or list(_disk_cache):
                del _disk_cache[stale]
        _disk_cache[key] = (now + settings.plan_disk_cache_seconds, used)
    return used


async def measure_trees_mb(roots: Iterable[Path]) -> int:
    """MB allocated to these trees together (rounded up; a missing one counts 0), measured in a thread, never
    cached: what a move brings to an account (hosting/moves.py)."""
    return math.ceil(sum([await asyncio.to_thread(tree_bytes, root) for root in roots]) / MIB)


async def _disk_used(db: AsyncSession, settings: Settings, user: tuple[int, str]) -> int:
    user_id, username = user
    names = await db.scalars(select(MailDomain.name).where(MailDomain.user_id == user_id))
    return await measure_disk_mb(settings, username, list(names))


# --- the two entry points ---------------------------------------------------------------------------------------


async def _lock_user(db: AsyncSession, user_id: int) -> tuple[int, str]:
    """Lock the user's row until the caller's unit ends (PostgreSQL; SQLite already serialises writers)."""
    row = (await db.execute(select(User.id, User.username).where(User.id == user_id).with_for_update())).one_or_none()
    if row is None:
        raise NotFound("No such user.")
    return int(row[0]), str(row[1])


async def reserve(
    db: AsyncSession, user_id: int, resource: Resource, amount: int = 1, *, settings: Settings | None = None
) -> None:
    """Refuse (LimitReached) a create that would take the user past their plan; call it inside the creating unit
    of work, before the insert. With `settings`, the disk limit is checked too (every create is refused once the
    measured use reaches it; `disk_mb` itself: when use + amount would pass it)."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    user = await _lock_user(db, user_id)
    plan, _ = await plan_of(db, user_id)
    if plan is None:
        return
    disk_limit = plan_limit(plan, "disk_mb")
    if settings is not None and disk_limit:
        used_disk = await _disk_used(db, settings, user)
        if used_disk >= disk_limit or (resource == "disk_mb" and used_disk + amount > disk_limit):
            raise LimitReached(
                f"Your plan allows {disk_limit} {LABELS['disk_mb']} and you use {used_disk}: "
                "free some space before creating more."
            )
    limit = plan_limit(plan, resource)
    if not limit or resource == "disk_mb":
        return
    if resource == "mail_quota_mb" and amount == 0:
        raise LimitReached(
            f"Your plan allows {limit} {LABELS['mail_quota_mb']}: a mailbox needs a quota (0, unlimited, is not "
            "allowed)."
        )
    used = await _count(db, user_id, resource)
    if used + amount > limit:
        raise LimitReached(
            f"Your plan allows {limit} {LABELS[resource]} and you have {used}"
            + (f"; this needs {amount} more." if amount != 1 else ".")
        )


async def usage(db: AsyncSession, user_id: int, *, settings: Settings | None = None) -> PlanUsage:
    """The user's plan, limits and current use (disk_mb is measured only when `settings` is given, else 0)."""
    user = (await db.execute(select(User.id, User.username).where(User.id == user_id))).one_or_none()
    if user is None:
        raise NotFound("No such user.")
    plan, assigned = await plan_of(db, user_id)
    used: dict[str, int] = {res: await _count(db, user_id, res) for res in RESOURCES if res != "disk_mb"}
    used["disk_mb"] = await _disk_used(db, settings, (int(user[0]), str(user[1]))) if settings is not None else 0
    return PlanUsage(
        user_id=user_id,
        plan_id=plan.id if plan else None,
        plan_name=plan.name if plan else None,
        assigned=assigned,
        limits={resource: plan_limit(plan, resource) for resource in RESOURCES},
        used=used,
        features=list(plan.features) if plan is not None else list(FEATURES),
    )
