"""Jobs: status from queued to running to succeeded or failed, progress written while the work runs (but not on
every call), errors kept as problem details, bounded concurrency, interrupted jobs recorded, owner scoping."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any

import pytest

from hostplane.errors import InvalidInput, NotFound
from hostplane.jobs.models import Job
from hostplane.jobs.service import JobContext, JobService, JobView
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from tests.conftest import Account


async def until(service: JobService, job_id: int, condition: Callable[[JobView], bool]) -> JobView:
    """Poll the table until the job meets the condition (5 s at most)."""
    for _ in range(250):
        view = await service.load(job_id)
        if condition(view):
            return view
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never got there: {await service.load(job_id)}")


def held_until(release: asyncio.Event, result: dict[str, Any] | None = None) -> Any:
    async def work(context: JobContext) -> dict[str, Any]:
        await release.wait()
        return result or {}

    return work


async def test_a_job_is_queued_then_runs_then_succeeds_with_its_result(runtime: Runtime, alice: Account) -> None:
    service = JobService(runtime)
    release = asyncio.Event()
    submitted = await service.submit(alice.user.id, "tls.acme", "Issue", held_until(release, {"serial": "ab"}))
    assert submitted.status == "queued"
    assert submitted.started_at is None

    running = await until(service, submitted.id, lambda job: job.status == "running")
    assert running.started_at is not None
    assert running.finished_at is None

    release.set()
    done = await service.wait(submitted.id, timeout=5)
    assert done.status == "succeeded"
    assert done.result == {"serial": "ab"}
    assert done.error is None
    assert done.finished_at is not None
    assert done.started_at is not None
    assert done.created_at <= done.started_at <= done.finished_at


async def test_progress_is_readable_while_the_job_runs(runtime: Runtime, alice: Account) -> None:
    service = JobService(runtime)
    release = asyncio.Event()

    async def work(context: JobContext) -> dict[str, Any]:
        await context.step(1, 3, "Placing the order")
        await release.wait()
        await context.step(2, 3, "Validating")
        return {}

    job = await service.submit(alice.user.id, "tls.acme", "Issue", work)
    seen = await until(service, job.id, lambda view: view.progress_done == 1)
    assert (seen.progress_done, seen.progress_total, seen.message) == (1, 3, "Placing the order")
    assert seen.status == "running"
    release.set()
    done = await service.wait(job.id, timeout=5)
    assert (done.progress_done, done.progress_total, done.message) == (2, 3, "Validating")


async def test_progress_reported_per_chunk_is_written_only_now_and_then(
    settings_factory: Callable[..., Settings], alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = build_runtime(settings_factory(jobs_progress_interval=60))
    writes: list[dict[str, Any]] = []
    real_write = JobService._write

    async def counting_write(self: JobService, job_id: int, **values: Any) -> None:
        writes.append(values)
        await real_write(self, job_id, **values)

    monkeypatch.setattr(JobService, "_write", counting_write)
    try:
        service = JobService(runtime)

        async def work(context: JobContext) -> dict[str, Any]:
            for done in range(1, 1000):
                await context.progress(done, 1000, "Copying")
            return {}

        job = await service.submit(alice.user.id, "exports.domain", "Export", work)
        done = await service.wait(job.id, timeout=10)
    finally:
        await runtime.close()
    assert done.status == "succeeded"
    assert (done.progress_done, done.progress_total) == (999, 1000)  # the latest values, written at the end
    assert len(writes) <= 4  # running, the first progress, the end: not 999 writes


async def test_a_core_error_becomes_the_jobs_problem_detail(runtime: Runtime, alice: Account) -> None:
    service = JobService(runtime)

    async def work(context: JobContext) -> dict[str, Any]:
        await context.step(1, 2, "Checking")
        raise InvalidInput.on("hostname", "This is not a valid domain name.", "regex")

    job = await service.wait((await service.submit(alice.user.id, "tls.acme", "Issue", work)).id, timeout=5)
    assert job.status == "failed"
    assert job.error == {
        "type": "https://hostplane.dev/problems/invalid_input",
        "title": "Invalid input",
        "status": 422,
        "detail": "This is not a valid domain name.",
        "code": "invalid_input",
        "errors": [{"field": "hostname", "message": "This is not a valid domain name.", "rule": "regex"}],
    }
    assert job.result == {}
    assert (job.progress_done, job.progress_total, job.message) == (1, 2, "Checking")


async def test_an_unexpected_error_is_recorded_without_its_text(runtime: Runtime, alice: Account) -> None:
    service = JobService(runtime)

    async def work(context: JobContext) -> dict[str, Any]:
        raise RuntimeError("password=hunter2 in /secret/path")

    job = await service.wait((await service.submit(alice.user.id, "tls.acme", "Issue", work)).id, timeout=5)
    assert job.status == "failed"
    assert job.error is not None
    assert job.error["code"] == "internal_error"
    assert job.error["status"] == 500
    assert "hunter2" not in str(job.error)


async def test_a_result_that_is_not_json_fails_the_job(runtime: Runtime, alice: Account) -> None:
    service = JobService(runtime)

    async def work(context: JobContext) -> dict[str, Any]:
        return {"when": object()}

    job = await service.wait((await service.submit(alice.user.id, "tls.acme", "Issue", work)).id, timeout=5)
    assert job.status == "failed"
    assert job.error is not None
    assert job.error["code"] == "internal_error"


async def test_no_more_jobs_run_at_once_than_the_concurrency_allows(
    settings_factory: Callable[..., Settings], alice: Account
) -> None:
    runtime = build_runtime(settings_factory(jobs_concurrency=1))
    try:
        service = JobService(runtime)
        first_release, second_release = asyncio.Event(), asyncio.Event()
        first = await service.submit(alice.user.id, "tls.acme", "First", held_until(first_release))
        second = await service.submit(alice.user.id, "tls.acme", "Second", held_until(second_release))
        await until(service, first.id, lambda job: job.status == "running")
        await asyncio.sleep(0.2)
        assert (await service.load(second.id)).status == "queued"
        first_release.set()
        await until(service, second.id, lambda job: job.status == "running")
        assert (await service.load(first.id)).status == "succeeded"
        second_release.set()
        assert (await service.wait(second.id, timeout=5)).status == "succeeded"
    finally:
        await runtime.close()


async def test_closing_the_runtime_records_its_unfinished_jobs_as_interrupted(
    settings_factory: Callable[..., Settings], alice: Account
) -> None:
    runtime = build_runtime(settings_factory(jobs_concurrency=1))
    service = JobService(runtime)
    never = asyncio.Event()
    running = await service.submit(alice.user.id, "tls.acme", "Running", held_until(never))
    queued = await service.submit(alice.user.id, "tls.acme", "Queued", held_until(never))
    await until(service, running.id, lambda job: job.status == "running")
    await runtime.jobs.close()
    for job_id in (running.id, queued.id):
        job = await service.load(job_id)
        assert job.status == "failed"
        assert job.error is not None
        assert job.error["code"] == "job_interrupted"
        assert job.finished_at is not None
    with pytest.raises(RuntimeError):
        await service.submit(alice.user.id, "tls.acme", "Too late", held_until(never))
    await runtime.close()


async def insert_job(runtime: Runtime, user_id: int, status: str, worker: str) -> int:
    async with runtime.writing() as db:
        job = Job(user_id=user_id, kind="tls.acme", title="Left over", status=status, worker=worker)
        db.add(job)
        await db.flush()
        return job.id


async def test_recovery_fails_the_jobs_a_dead_process_left_and_spares_a_live_ones(
    runtime: Runtime, alice: Account
) -> None:
    host = socket.gethostname()
    dead = f"{host}:{2**22 + 12345}"  # above any pid_max: no such process
    live = f"{host}:{os.getppid()}"  # another process of this host that still runs
    orphan_running = await insert_job(runtime, alice.user.id, "running", dead)
    orphan_queued = await insert_job(runtime, alice.user.id, "queued", dead)
    other_host = await insert_job(runtime, alice.user.id, "running", f"gone.example:{os.getppid()}")
    alive = await insert_job(runtime, alice.user.id, "running", live)
    finished = await insert_job(runtime, alice.user.id, "succeeded", dead)

    service = JobService(runtime)
    assert await service.recover() == 3
    for job_id in (orphan_running, orphan_queued, other_host):
        job = await service.load(job_id)
        assert job.status == "failed"
        assert job.error is not None
        assert job.error["code"] == "job_interrupted"
    assert (await service.load(alive)).status == "running"
    assert (await service.load(finished)).status == "succeeded"
    assert await service.recover() == 0


async def test_recovery_leaves_the_jobs_this_process_runs(runtime: Runtime, alice: Account) -> None:
    service = JobService(runtime)
    release = asyncio.Event()
    job = await service.submit(alice.user.id, "tls.acme", "Mine", held_until(release))
    await until(service, job.id, lambda view: view.status == "running")
    assert await service.recover() == 0
    release.set()
    assert (await service.wait(job.id, timeout=5)).status == "succeeded"


async def test_another_users_job_is_not_found(runtime: Runtime, alice: Account, make_account: Any) -> None:
    bob = await make_account("bob")
    service = JobService(runtime)
    job = await service.submit(alice.user.id, "tls.acme", "Alice's", held_until(asyncio.Event()))
    assert (await service.get(alice.user.id, job.id)).title == "Alice's"
    with pytest.raises(NotFound):
        await service.get(bob.user.id, job.id)
    with pytest.raises(NotFound):
        await service.get(alice.user.id, job.id + 1000)
    assert (await service.list(bob.user.id)).total == 0


async def test_a_users_jobs_are_listed_newest_first_by_page(runtime: Runtime, alice: Account) -> None:
    service = JobService(runtime)

    async def nothing(context: JobContext) -> dict[str, Any]:
        return {}

    ids = [(await service.submit(alice.user.id, "tls.acme", f"Job {n}", nothing)).id for n in range(5)]
    first = await service.list(alice.user.id, page=1, per_page=2)
    assert [job.id for job in first.jobs] == [ids[4], ids[3]]
    assert (first.total, first.total_pages) == (5, 3)
    last = await service.list(alice.user.id, page=3, per_page=2)
    assert [job.id for job in last.jobs] == [ids[0]]
    only_exports = await service.list(alice.user.id, areas=["exports"])
    assert only_exports.total == 0


async def test_wait_returns_the_job_as_it_is_when_the_timeout_ends(runtime: Runtime, alice: Account) -> None:
    service = JobService(runtime)
    release = asyncio.Event()
    job = await service.submit(alice.user.id, "tls.acme", "Slow", held_until(release))
    view = await service.wait(job.id, timeout=0.3)
    assert not view.finished
    release.set()
    assert (await service.wait(job.id, timeout=5)).status == "succeeded"
