"""`hostplane jobs list|watch`: long work (certificate orders, renewals...) with a progress bar per job."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from hostplane.cli.common import EXIT_FAILED, console, err, principal, run
from hostplane.jobs.service import JobPage, JobService, JobView
from hostplane.runtime import Runtime

EXIT_UNFINISHED = 3
app = typer.Typer(help="Long work (certificate orders, renewals...): list and watch.", no_args_is_help=True)


def _progress(job: JobView) -> str:
    return f"{job.progress_done}/{job.progress_total}" if job.progress_total else "-"


@app.command("list")
def jobs_list(
    user: Annotated[str, typer.Option("--user", help="Whose jobs.")],
    page: Annotated[int, typer.Option(min=1)] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """A user's jobs, newest first."""

    async def action(rt: Runtime) -> JobPage:
        owner = (await principal(rt, user)).user
        return await JobService(rt).list(owner.id, page=page, per_page=per_page)

    result = run(action)
    table = Table("id", "kind", "title", "status", "progress", "message", "created", "finished")
    for job in result.jobs:
        table.add_row(
            str(job.id),
            job.kind,
            job.title,
            job.status,
            _progress(job),
            (job.error or {}).get("detail", job.message) if job.status == "failed" else job.message,
            job.created_at.isoformat(timespec="seconds"),
            job.finished_at.isoformat(timespec="seconds") if job.finished_at else "-",
        )
    console.print(table)
    console.print(f"Page {result.page} of {result.total_pages} ({result.total} jobs).")


async def watch(rt: Runtime, job_ids: list[int], timeout: float) -> list[JobView]:
    """Show a progress bar per job until each has finished (or the timeout); the jobs as they ended."""
    service = JobService(rt)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[state]}"))
    with Progress(*columns, console=console) as progress:
        bars: dict[int, TaskID] = {}
        for job_id in job_ids:
            job = await service.load(job_id)
            bars[job_id] = progress.add_task(job.title, total=job.progress_total or None, state=job.status)
        while True:
            jobs = [await service.load(job_id) for job_id in job_ids]
            for job in jobs:
                state = job.status if job.finished or not job.message else f"{job.status}: {job.message}"
                total = job.progress_total or (1 if job.finished else None)
                done = job.progress_done if job.progress_total else (1 if job.status == "succeeded" else 0)
                progress.update(bars[job.id], total=total, completed=done, state=state)
            if all(job.finished for job in jobs) or loop.time() >= deadline:
                return jobs
            await asyncio.sleep(0.2)


def report(jobs: list[JobView]) -> None:
    """Print why each failed job failed; exit 1 if any failed, 3 if any is still unfinished."""
    for job in jobs:
        if job.status == "failed" and job.error:
            err.print(f"[red]Job {job.id} failed:[/red] {job.error.get('detail', '')} ({job.error.get('code', '')})")
            ca_problem = job.error.get("ca_problem") or {}
            if ca_problem:
                err.print(f"  certificate authority: {ca_problem.get('type', '')} {ca_problem.get('detail', '')}")
                for sub in ca_problem.get("subproblems") or []:
                    name = (sub.get("identifier") or {}).get("value", "")
                    err.print(f"    {name}: {sub.get('type', '')} {sub.get('detail', '')}")
    if any(job.status == "failed" for job in jobs):
        raise typer.Exit(EXIT_FAILED)
    if not all(job.finished for job in jobs):
        err.print("[yellow]Not finished within the timeout.[/yellow]")
        raise typer.Exit(EXIT_UNFINISHED)


@app.command("watch")
def jobs_watch(
    job_id: int,
    timeout: Annotated[float, typer.Option(min=0, help="Give up watching after this many seconds.")] = 600,
) -> None:
    """Show a job's progress until it has finished; exit 1 if it failed."""
    report(run(lambda rt: watch(rt, [job_id], timeout)))
