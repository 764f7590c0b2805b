"""The activity log of security events: written inside the caller's transaction, never holding a secret."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.activity.events import Event
from hostplane.activity.models import ActivityEntry


@dataclass(frozen=True)
class Actor:
    """Who did something, for the activity log."""

    user_id: int | None
    ip: str
    api_key_identifier: str | None = None


FORBIDDEN_PROPERTY_WORDS = ("password", "secret", "token", "code")


def record(db: AsyncSession, event: Event, actor: Actor, *, user_id: int | None, **properties: Any) -> None:
    """Add one entry to the current transaction; property names that smell of secrets are refused outright."""
    for name in properties:
        if any(word in name for word in FORBIDDEN_PROPERTY_WORDS):
            raise ValueError(f"activity property {name!r} could hold a secret")
    db.add(
        ActivityEntry(
            user_id=user_id,
            actor_id=actor.user_id,
            event=event,
            ip=actor.ip,
            api_key=actor.api_key_identifier,
            properties=properties,
        )
    )


@dataclass(frozen=True)
class ActivityPage:
    entries: list[ActivityEntry]
    total: int
    page: int
    per_page: int


async def list_activity(
    db: AsyncSession,
    *,
    user_id: int | None,
    event: str | None = None,
    events: Collection[str] | None = None,
    page: int = 1,
    per_page: int = 50,
    newest_first: bool = True,
) -> ActivityPage:
    """A page of entries about one account (or all, for an admin), optionally of one event or event prefix, and
    of a set of events (`events`; an empty set matches nothing)."""
    conditions = []
    if user_id is not None:
        conditions.append(ActivityEntry.user_id == user_id)
    if events is not None:
        conditions.append(ActivityEntry.event.in_(sorted(set(events))) if events else false())
    if event:
        conditions.append(
            ActivityEntry.event.startswith(event[:-1], autoescape=True)
            if event.endswith("*")
            else ActivityEntry.event == event
        )
    total = await db.scalar(select(func.count()).select_from(ActivityEntry).where(*conditions)) or 0
    order = ActivityEntry.id.desc() if newest_first else ActivityEntry.id.asc()
    rows = await db.scalars(
        select(ActivityEntry).where(*conditions).order_by(order).offset((page - 1) * per_page).limit(per_page)
    )
    return ActivityPage(entries=list(rows), total=total, page=page, per_page=per_page)
