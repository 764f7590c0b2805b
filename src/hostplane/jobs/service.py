"""Jobs: long work submitted by a service, run by the runtime's in-process worker, with its status, progress,
result and error (an RFC 9457 problem detail) in the `jobs` table, readable by the owner only.

A job's work is an async function of a JobContext; it reports progress through the context (throttled: at most
one write per `jobs_progress_interval`, plus each step and the end) and returns a JSON-able dict, the result.
An expected failure is a HostplaneError: it becomes the job's problem detail as it would become an API error.
Anything else is logged and recorded as an internal error, without its text (it may hold secrets or paths).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update

from hostplane.db import utcnow
from hostplane.errors import HostplaneError, InvalidInput, NotFound
from hostplane.jobs.models import (
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_RUNNING,
    STATUS_SUCCEEDED,
    UNFINISHED,
    Job,
)
from hostplane.runtime import Runtime
from hostplane.system.daemons import pid_alive

log = logging.getLogger("hostplane.jobs")
PROBLEM_BASE = "https://hostplane.dev/problems/"
MAX_MESSAGE = 500
MAX_TITLE = 255


def _worker_id() -> str:
    return f"{socket.gethostname()[:200]}:{os.getpid()}"


def problem_detail(code: str, title: str, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    """A problem detail in the native API's shape (type URL, title, status, detail, code)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def problem_of(error: BaseException) -> dict[str, Any]:
    """The problem detail recorded for a failed job. A HostplaneError may carry `problem_extra` (a dict of more
    members, such as the certificate authority's own problem document)."""
    if not isinstance(error, HostplaneError):
        return problem_detail(
            "internal_error", "Internal error", 500, "The job failed unexpectedly; the error has been logged."
        )
    extra: dict[str, Any] = {}
    if error.fields:
        extra["errors"] = [{"field": f.field, "message": f.message, "rule": f.rule} for f in error.fields]
    more = getattr(error, "problem_extra", None)
    if isinstance(more, dict):
        extra.update(more)
    return problem_detail(error.code, error.title, error.status, error.detail, **extra)


INTERRUPTED = problem_detail(
    "job_interrupted",
    "Job interrupted",
    503,
    "The process that ran this job stopped before the job finished; submit it again.",
)


@dataclass(frozen=True)
class JobView:
    id: int
    user_id: int
    kind: str
    title: str
    status: str
    progress_done: int
    progress_total: int
    message: str
    error: dict[str, Any] | None
    result: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def finished(self) -> bool:
        return self.status in (STATUS_SUCCEEDED, STATUS_FAILED)

    @property
    def area(self) -> str:
        return area_of(self.kind)

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            id=job.id,
            user_id=job.user_id,
            kind=job.kind,
            title=job.title,
            status=job.status,
            progress_done=job.progress_done,
            progress_total=job.progress_total,
            message=job.message,
            error=job.error,
            result=job.result or {},
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobView]
    page: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def area_of(kind: str) -> str:
    """The API scope area of a job kind: the part before the first dot (`tls.acme` -> `tls`)."""
    return kind.split(".", 1)[0]


class JobContext:
    """What the work of one job gets: its ids and a way to report progress."""

    def __init__(self, service: JobService, job_id: int, owner_id: int, interval: float) -> None:
        self.service = service
        self.job_id = job_id
        self.owner_id = owner_id
        self._interval = interval
        self._written_at: float | None = None
        self._pending: tuple[int, int, str] | None = None

    async def progress(self, done: int, total: int, message: str = "") -> None:
        """Record progress; written at most once per interval (and always when done reaches total), so calling
        it per chunk is fine. The latest values are written when the job ends in any case."""
        done, total = max(0, done), max(0, total)
        self._pending = (done, total, message[:MAX_MESSAGE])
        now = time.monotonic()
        finished = total > 0 and done >= total
        if finished or self._written_at is None or now - self._written_at >= self._interval:
            await self.flush()

    async def step(self, done: int, total: int, message: str) -> None:
        """A step of a job with a few steps: written at once, whatever the interval."""
        self._pending = (max(0, done), max(0, total), message[:MAX_MESSAGE])
        await self.flush()

    async def flush(self) -> None:
        if self._pending is None:
            return
        done, total, message = self._pending
        self._pending = None
        self._written_at = time.monotonic()
        await self.service._write(self.job_id, progress_done=done, progress_total=total, message=message)

    @property
    def pending(self) -> tuple[int, int, str] | None:
        return self._pending


Work = Callable[[JobContext], Awaitable[dict[str, Any]]]


class JobService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.runner = runtime.jobs

    # - submitting and running -

    async def submit(self, owner_id: int, kind: str, title: str, work: Work) -> JobView:
        """Record a queued job of `owner_id` and start it in this process's worker."""
        if not kind or len(kind) > 64:
            raise InvalidInput.on("kind", "A job kind has 1 to 64 characters.")
        async with self.runtime.writing() as db:
            job = Job(
                user_id=owner_id,
                kind=kind,
                title=title[:MAX_TITLE],
                status=STATUS_QUEUED,
                progress_done=0,
                progress_total=0,
                message="",
                worker=_worker_id(),
            )
            db.add(job)
            await db.flush()
            view = JobView.of(job)
        self.runner.spawn(view.id, lambda: self._run(view.id, owner_id, work))
        return view

    async def _run(self, job_id: int, owner_id: int, work: Work) -> None:
        context = JobContext(self, job_id, owner_id, self.runtime.settings.jobs_progress_interval)
        try:
            async with self.runner.slot():
                await self._write(job_id, status=STATUS_RUNNING, started_at=utcnow())
                result = await work(context)
                json.dumps(result)  # a result that cannot be stored fails the job, not the write below
        except asyncio.CancelledError:
            await self._end(job_id, context, STATUS_FAILED, error=INTERRUPTED)
            raise
        except Exception as exc:
            if isinstance(exc, HostplaneError):
                log.info("job %s failed: %s (%s)", job_id, exc.detail, exc.code)
            else:
                log.exception("job %s failed unexpectedly", job_id)
            await self._end(job_id, context, STATUS_FAILED, error=problem_of(exc))
        else:
            await self._end(job_id, context, STATUS_SUCCEEDED, result=result)

    async def _end(
        self,
        job_id: int,
        context: JobContext,
        status: str,
        *,
        error: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error, "result": result}
        if context.pending is not None:
            done, total, message = context.pending
            values.update(progress_done=done, progress_total=total, message=message)
        try:
            await self._write(job_id, **values)
        except Exception:
            log.exception("job %s: its end (%s) could not be recorded", job_id, status)

    async def _write(self, job_id: int, **values: Any) -> None:
        async with self.runtime.writing() as db:
            await db.execute(update(Job).where(Job.id == job_id).values(**values))

    # - reading -

    async def get(self, owner_id: int, job_id: int, *, areas: Sequence[str] | None = None) -> JobView:
        """The owner's job, or NotFound (also for another user's job, or one outside `areas` when given)."""
        async with self.runtime.reading() as db:
            job = await db.scalar(select(Job).where(Job.id == job_id, Job.user_id == owner_id))
        if job is None or (areas is not None and area_of(job.kind) not in areas):
            raise NotFound("No such job.")
        return JobView.of(job)

    async def list(
        self, owner_id: int, *, page: int = 1, per_page: int = 50, areas: Sequence[str] | None = None
    ) -> JobPage:
        """The owner's jobs, newest first (optionally only those of some scope areas)."""
        conditions = [Job.user_id == owner_id]
        if areas is not None:
            conditions.append(or_(*(Job.kind.startswith(f"{area}.", autoescape=True) for area in areas)))
        async with self.runtime.reading() as db:
            total = await db.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
            rows = await db.scalars(
                select(Job).where(*conditions).order_by(Job.id.desc()).offset((page - 1) * per_page).limit(per_page)
            )
            return JobPage([JobView.of(job) for job in rows], page, per_page, total)

    async def load(self, job_id: int) -> JobView:
        """Any user's job (for the CLI and tests); NotFound if there is none."""
        async with self.runtime.reading() as db:
            job = await db.get(Job, job_id)
        if job is None:
            raise NotFound("No such job.")
        return JobView.of(job)

    async def wait(self, job_id: int, timeout: float) -> JobView:
        """The job once it has finished, or as it is after `timeout` seconds. Works for jobs of other processes
        too (it polls the table)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        task = self.runner.task(job_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)
        while True:
            view = await self.load(job_id)
            remaining = deadline - loop.time()
            if view.finished or remaining <= 0:
                return view
            await asyncio.sleep(min(0.2, remaining))

    # - start-up -

    async def recover(self) -> int:
        """Mark failed the jobs left queued or running by a process that is gone (run once at start-up). A job
        of a live process on this host (another `hostplane` command) is left alone; so are this process's own."""
        mine = self.runner.running()
        host = socket.gethostname()[:200]
        async with self.runtime.writing() as db:
            rows = await db.execute(select(Job.id, Job.worker).where(Job.status.in_(UNFINISHED)))
            orphans = [job_id for job_id, worker in rows if job_id not in mine and not _alive(worker, host)]
            if orphans:
                await db.execute(
                    update(Job)
                    .where(Job.id.in_(orphans), Job.status.in_(UNFINISHED))
                    .values(status=STATUS_FAILED, error=INTERRUPTED, finished_at=utcnow())
                )
        if orphans:
            log.warning("marked %d interrupted job(s) failed: %s", len(orphans), orphans)
        return len(orphans)


def _alive(worker: str, host: str) -> bool:
    """Whether the process named `host:pid` still runs. The panel runs on one host; a job of another host (or of
    this very process, which has just started) is taken as orphaned."""
    name, _, pid_text = worker.rpartition(":")
    if name != host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    return pid != os.getpid() and pid_alive(pid)
