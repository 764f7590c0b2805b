"""The jobs table: one row per piece of long work (an ACME order, a renewal...), owned by a user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hostplane.db import Base, UTCDateTime, utcnow

STATUS_QUEUED = "queued"
STATUS_RUNNING = "running"
STATUS_SUCCEEDED = "succeeded"
STATUS_FAILED = "failed"
UNFINISHED = (STATUS_QUEUED, STATUS_RUNNING)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    """What the work is, dotted: `tls.acme`, `tls.renew`... (the area before the dot is the API scope area)."""
    title: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=STATUS_QUEUED)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """An RFC 9457 problem detail when the job failed."""
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    worker: Mapped[str] = mapped_column(String(300), default="")
    """`host:pid` of the process that runs the job, so start-up recovery can tell a dead runner's jobs."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
