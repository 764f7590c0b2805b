"""Native routes under /api/v1/jobs: the caller's jobs and their status, progress, result and error.

An API key sees the jobs of the areas it has a scope for (`tls:read` sees `tls.*` jobs); a session sees all of
its user's jobs. Another user's job is a 404, like a job that does not exist."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from hostplane.api.deps import bearer_credential, client_of
from hostplane.api.schema import ResponseModel
from hostplane.api.types import Id
from hostplane.auth.principal import AREAS, Principal
from hostplane.auth.service import AuthService
from hostplane.jobs.service import JobService, JobView
from hostplane.runtime import Runtime


async def jobs_principal(request: Request) -> Principal:
    """Any authenticated caller; which jobs it sees depends on its scopes (see `readable_areas`)."""
    runtime: Runtime = request.app.state.runtime
    return await AuthService(runtime).authenticate(bearer_credential(request), client_of(request))


JobsPrincipal = Annotated[Principal, Depends(jobs_principal)]
router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], dependencies=[Depends(jobs_principal)])


def readable_areas(principal: Principal) -> list[str] | None:
    """None: every area (a session, or a key without scopes)."""
    if not principal.scopes:
        return None
    return [area for area in AREAS if principal.allows(area, write=False)]


class JobOut(ResponseModel):
    id: int
    kind: str
    title: str
    status: str
    progress_done: int
    progress_total: int
    message: str
    error: dict[str, Any] | None
    """An RFC 9457 problem detail (type, title, status, detail, code, and more members) when the job failed."""
    result: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobPageOut(ResponseModel):
    data: list[JobOut]
    page: int
    per_page: int
    total: int
    total_pages: int


def job_out(view: JobView) -> JobOut:
    """The API's view of a job: JobView read by attribute (ResponseModel), without its owner."""
    return JobOut.model_validate(view)


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such job among yours (another user's job is not found either).",
        "content": {"application/problem+json": {}},
    }
}


@router.get("", response_model=JobPageOut)
async def list_jobs(
    request: Request,
    principal: JobsPrincipal,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobPageOut:
    """Your jobs, newest first."""
    result = await JobService(request.app.state.runtime).list(
        principal.user.id, page=page, per_page=per_page, areas=readable_areas(principal)
    )
    return JobPageOut(
        data=[job_out(view) for view in result.jobs],
        page=result.page,
        per_page=result.per_page,
        total=result.total,
        total_pages=result.total_pages,
    )


@router.get("/{job_id}", response_model=JobOut, responses=NOT_FOUND)
async def get_job(job_id: Id, request: Request, principal: JobsPrincipal) -> JobOut:
    """One of your jobs: poll it until `status` is `succeeded` or `failed`."""
    service = JobService(request.app.state.runtime)
    return job_out(await service.get(principal.user.id, job_id, areas=readable_areas(principal)))
