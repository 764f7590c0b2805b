"""The in-process worker: each job is one asyncio task, at most `concurrency` of them run at once, and all are
cancelled (and awaited) when the runtime closes. Knows nothing of the database: JobService gives it coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class JobRunner:
    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def slot(self) -> asyncio.Semaphore:
        """Held by a job while it runs (`async with runner.slot():`); the others wait, queued."""
        return self._slots

    def spawn(self, job_id: int, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `run()` in its own task; it takes a slot itself, so that it can record a cancellation while queued."""
        if self._closed:
            raise RuntimeError("the job runner is closed")
        task = asyncio.get_running_loop().create_task(run(), name=f"hostplane-job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _task: self._tasks.pop(job_id, None))

    def task(self, job_id: int) -> asyncio.Task[None] | None:
        """The task of a job this process runs (queued or running), if any."""
        return self._tasks.get(job_id)

    def running(self) -> frozenset[int]:
        return frozenset(self._tasks)

    async def close(self) -> None:
        """Cancel every job of this process and wait until each has recorded its end."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
