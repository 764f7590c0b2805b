"""Wire shapes of the activity log in the native API."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from hostplane.activity.log import ActivityPage
from hostplane.api.schema import ResponseModel


class ActivityOut(ResponseModel):
    id: int
    event: str
    user_id: int | None
    actor_id: int | None
    ip: str | None
    api_key: str | None
    via_api_key: bool
    created_at: dt.datetime
    properties: dict[str, Any]


class ActivityPageOut(ResponseModel):
    data: list[ActivityOut]
    page: int
    per_page: int
    total: int
    total_pages: int


def activity_page_out(page: ActivityPage) -> ActivityPageOut:
    return ActivityPageOut(
        data=[
            ActivityOut(
                id=entry.id,
                event=entry.event,
                user_id=entry.user_id,
                actor_id=entry.actor_id,
                ip=entry.ip,
                api_key=entry.api_key,
                via_api_key=entry.api_key is not None,
                created_at=entry.created_at,
                properties=entry.properties or {},
            )
            for entry in page.entries
        ],
        page=page.page,
        per_page=page.per_page,
        total=page.total,
        total_pages=max(1, math.ceil(page.total / page.per_page)),
    )
