"""Hosting plans: what an administrator creates, changes and assigns (admin API and CLI share this service).

A plan's limits are whole numbers, 0 = unlimited (see accounts/limits.py for what each one counts). A user without
an assigned plan is on the plan flagged `is_default` (at most one; setting it on one plan clears it on the others),
and without a default plan on no limits at all. A plan in use, or the default one, cannot be deleted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import validation
from hostplane.activity import log as activity
from hostplane.activity.events import Event
from hostplane.activity.log import Actor
from hostplane.auth.models import User
from hostplane.auth.users import lock_user
from hostplane.errors import Conflict, InvalidInput, NotFound
from hostplane.plans.limits import PlanUsage, usage
from hostplane.plans.models import FEATURES, Plan, UserPlan
from hostplane.runtime import Runtime

PLAN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
MAX_LIMIT = 2_000_000_000
"""Fits a 32-bit integer column on every backend."""
LIMIT_FIELDS = ("max_domains", "max_websites", "max_mailboxes", "max_mail_quota_mb", "max_disk_mb")


def plan_name(value: str) -> str:
    validation.reject_control_chars("name", value)
    value = value.strip()
    if not PLAN_NAME.match(value) or value.endswith(" "):
        raise InvalidInput.on(
            "name",
            "A plan name is 1 to 64 characters: letters, digits, spaces, '.', '_' and '-', starting with a letter "
            "or digit.",
            "regex",
        )
    return value


def limit_value(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise InvalidInput.on(name, f"A limit is a whole number from 0 (unlimited) to {MAX_LIMIT}.", "between")
    return value


def feature_list(values: Sequence[str]) -> list[str]:
    unknown = [value for value in values if value not in FEATURES]
    if unknown:
        shown = ", ".join(repr(value[:40]) for value in unknown[:3])
        raise InvalidInput.on("features", f"Unknown feature {shown}; known features: {', '.join(FEATURES)}.", "in")
    return list(dict.fromkeys(values))


@dataclass(frozen=True)
class PlanView:
    plan: Plan
    users: int
    """How many users have it assigned."""


class PlanService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    # --- reads --------------------------------------------------------------------------------------------
    @staticmethod
    async def _users_of(db: AsyncSession, plan_id: int) -> int:
        return int(await db.scalar(select(func.count()).select_from(UserPlan).where(UserPlan.plan_id == plan_id)) or 0)

    @staticmethod
    async def _get(db: AsyncSession, plan_id: int) -> Plan:
        plan = await db.get(Plan, plan_id)
        if plan is None:
            raise NotFound("No such plan.")
        return plan

    async def list_plans(self) -> list[PlanView]:
        counts = select(UserPlan.plan_id, func.count().label("n")).group_by(UserPlan.plan_id).subquery()
        async with self.rt.reading() as db:
            rows = await db.execute(
                select(Plan, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.plan_id == Plan.id)
                .order_by(Plan.name)
            )
            return [PlanView(plan, int(n)) for plan, n in rows.all()]

    async def get(self, plan_id: int) -> PlanView:
        async with self.rt.reading() as db:
            plan = await self._get(db, plan_id)
            return PlanView(plan, await self._users_of(db, plan.id))

    async def find(self, name: str) -> Plan:
        async with self.rt.reading() as db:
            plan = await db.scalar(select(Plan).where(Plan.name == name.strip()))
            if plan is None:
                raise NotFound(f"No plan named {name.strip()[:64]!r}.")
            return plan

    async def usage_of(self, user_id: int) -> PlanUsage:
        async with self.rt.reading() as db:
            return await usage(db, user_id, settings=self.rt.settings)

    # --- writes -------------------------------------------------------------------------------------------
    async def create(
        self,
        actor: Actor,
        *,
        name: str,
        features: Sequence[str] | None = None,
        is_default: bool = False,
        **limits: int,
    ) -> PlanView:
        """A new plan; limits not given are 0 (unlimited), features not given are all of them."""
        unknown = set(limits) - set(LIMIT_FIELDS)
        if unknown:
            raise InvalidInput.on(sorted(unknown)[0], "Unknown limit.", "in")
        plan = Plan(
            name=plan_name(name),
            features=feature_list(FEATURES if features is None else features),
            is_default=bool(is_default),
            **{field: limit_value(field, limits.get(field, 0)) for field in LIMIT_FIELDS},
        )
        try:
            async with self.rt.writing() as db:
                if await db.scalar(select(Plan.id).where(Plan.name == plan.name)) is not None:
                    raise Conflict("A plan with this name already exists.")
                if plan.is_default:
                    await db.execute(update(Plan).where(Plan.is_default.is_(True)).values(is_default=False))
                db.add(plan)
                await db.flush()
                activity.record(db, Event.PLAN_CREATED, actor, user_id=None, plan_id=plan.id, plan=plan.name)
        except IntegrityError as exc:
            raise Conflict("A plan with this name already exists.") from exc
        return PlanView(plan, 0)

    async def update(self, actor: Actor, plan_id: int, changes: dict[str, Any]) -> PlanView:
        """Change some of a plan's fields (name, limits, features, is_default); applies to its users at once."""
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if value is None:
                raise InvalidInput.on(key, "Leave a field out to keep it; null is not a value.", "required")
            if key == "name":
                values[key] = plan_name(value)
            elif key in LIMIT_FIELDS:
                values[key] = limit_value(key, value)
            elif key == "features":
                values[key] = feature_list(value)
            elif key == "is_default":
                if not isinstance(value, bool):
                    raise InvalidInput.on(key, "is_default is true or false.", "boolean")
                values[key] = value
            else:
                raise InvalidInput.on(key, "This field cannot be changed.", "in")
        try:
            async with self.rt.writing() as db:
                plan = await self._get(db, plan_id)
                if "name" in values and values["name"] != plan.name:
                    taken = await db.scalar(select(Plan.id).where(Plan.name == values["name"]))
                    if taken is not None:
                        raise Conflict("A plan with this name already exists.")
                if values.get("is_default"):
                    await db.execute(
                        update(Plan).where(Plan.is_default.is_(True), Plan.id != plan.id).values(is_default=False)
                    )
                for key, value in values.items():
                    setattr(plan, key, value)
                await db.flush()
                activity.record(db, Event.PLAN_UPDATED, actor, user_id=None, plan_id=plan.id, fields=sorted(values))
                return PlanView(plan, await self._users_of(db, plan.id))
        except IntegrityError as exc:
            raise Conflict("A plan with this name already exists.") from exc

    async def delete(self, actor: Actor, plan_id: int) -> None:
        """Only a plan no user is on, and not the default one (its users would silently lose their limits)."""
        try:
            async with self.rt.writing() as db:
                plan = await self._get(db, plan_id)
                users = await self._users_of(db, plan.id)
                if users:
                    raise Conflict(f"This plan is assigned to {users} user(s); assign them another plan first.")
                if plan.is_default:
                    raise Conflict("This is the default plan; make another plan the default first.")
                await db.delete(plan)
                await db.flush()
                activity.record(db, Event.PLAN_DELETED, actor, user_id=None, plan_id=plan_id, plan=plan.name)
        except IntegrityError as exc:  # a concurrent assignment (the foreign key is RESTRICT)
            raise Conflict("This plan was just assigned to a user; it cannot be deleted.") from exc

    async def assign(self, actor: Actor, user_id: int, plan_id: int | None) -> PlanUsage:
        """Put a user on a plan (None: back to the default plan). Lowering limits below the current use takes
        nothing away; it only refuses new creates."""
        try:
            async with self.rt.writing() as db:
                user: User = await lock_user(db, user_id)
                current = await db.get(UserPlan, user.id)
                if plan_id is None:
                    if current is not None:
                        await db.delete(current)
                else:
                    plan = await self._get(db, plan_id)
                    if current is None:
                        db.add(UserPlan(user_id=user.id, plan_id=plan.id))
                    else:
                        current.plan_id = plan.id
                await db.flush()
                activity.record(db, Event.PLAN_ASSIGNED, actor, user_id=user.id, plan_id=plan_id)
        except IntegrityError as exc:  # the plan was deleted meanwhile
            raise NotFound("No such plan.") from exc
        return await self.usage_of(user_id)
