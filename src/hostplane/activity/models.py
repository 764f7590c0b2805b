"""The activity log's table: one row per security event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hostplane.db import Base, UTCDateTime, utcnow


class ActivityEntry(Base):
    """One security event; `properties` never holds a secret."""

    __tablename__ = "activity_log"
    __table_args__ = (Index("ix_activity_log_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    """The account the event is about (NULL for a login attempt on an unknown name)."""
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    event: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    api_key: Mapped[str | None] = mapped_column(String(16), default=None)
    """Identifier of the API key the request used, if any."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
