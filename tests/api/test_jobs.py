"""GET /api/v1/jobs and /api/v1/jobs/{id}: a user's own jobs, newest first, with status, progress, result and the
error as a problem detail; another user's job is a 404; an API key sees the jobs of the areas it has a scope for."""

from __future__ import annotations

import asyncio
from typing import Any

from hostplane.errors import Conflict
from hostplane.jobs.service import JobContext, JobService, JobView
from hostplane.runtime import Runtime
from tests.conftest import Account, Api


async def finished_job(runtime: Runtime, owner_id: int, kind: str = "tls.acme", *, fail: bool = False) -> JobView:
    service = JobService(runtime)

    async def work(context: JobContext) -> dict[str, Any]:
        await context.step(2, 2, "Done")
        if fail:
            raise Conflict("An order for this certificate is already running.")
        return {"hostname": "example.com"}

    job = await service.submit(owner_id, kind, "Issue the certificate of example.com", work)
    return await service.wait(job.id, timeout=5)


async def test_a_job_reads_with_its_status_progress_and_result(runtime: Runtime, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    job = await finished_job(runtime, alice.user.id)
    response = await user_api.get(f"/api/v1/jobs/{job.id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == job.id
    assert body["kind"] == "tls.acme"
    assert body["status"] == "succeeded"
    assert (body["progress_done"], body["progress_total"], body["message"]) == (2, 2, "Done")
    assert body["result"] == {"hostname": "example.com"}
    assert body["error"] is None
    assert body["finished_at"] is not None


async def test_a_failed_jobs_error_is_a_problem_detail(runtime: Runtime, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    job = await finished_job(runtime, alice.user.id, fail=True)
    body = (await user_api.get(f"/api/v1/jobs/{job.id}")).json()
    assert body["status"] == "failed"
    assert body["error"] == {
        "type": "https://hostplane.dev/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "An order for this certificate is already running.",
        "code": "conflict",
    }


async def test_the_list_holds_only_the_callers_jobs_newest_first(
    runtime: Runtime, user_api: Api, alice: Account, make_account: Any
) -> None:
    bob = await make_account("bob")
    mine = [(await finished_job(runtime, alice.user.id)).id for _ in range(3)]
    await finished_job(runtime, bob.user.id)
    await user_api.login(alice)
    body = (await user_api.get("/api/v1/jobs", params={"per_page": 2})).json()
    assert [job["id"] for job in body["data"]] == [mine[2], mine[1]]
    assert (body["page"], body["per_page"], body["total"], body["total_pages"]) == (1, 2, 3, 2)
    second = (await user_api.get("/api/v1/jobs", params={"per_page": 2, "page": 2})).json()
    assert [job["id"] for job in second["data"]] == [mine[0]]


async def test_another_users_job_is_not_found(
    runtime: Runtime, user_api: Api, alice: Account, make_account: Any
) -> None:
    bob = await make_account("bob")
    theirs = await finished_job(runtime, bob.user.id)
    await user_api.login(alice)
    response = await user_api.get(f"/api/v1/jobs/{theirs.id}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await user_api.get(f"/api/v1/jobs/{theirs.id + 999}")).status_code == 404


async def test_jobs_need_authentication(user_api: Api) -> None:
    assert (await user_api.get("/api/v1/jobs")).status_code == 401
    assert (await user_api.get("/api/v1/jobs/1")).status_code == 401


async def test_an_api_key_sees_the_jobs_of_its_scopes_only(runtime: Runtime, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    tls_job = await finished_job(runtime, alice.user.id, "tls.acme")
    export_job = await finished_job(runtime, alice.user.id, "exports.domain")
    created = await user_api.post(
        "/api/v1/account/api-keys", json={"description": "certs", "scopes": ["tls:read"], "password": alice.password}
    )
    assert created.status_code == 201, created.text
    key = created.json()["token"]
    listed = (await user_api.get("/api/v1/jobs", token=key)).json()
    assert [job["id"] for job in listed["data"]] == [tls_job.id]
    assert (await user_api.get(f"/api/v1/jobs/{tls_job.id}", token=key)).status_code == 200
    assert (await user_api.get(f"/api/v1/jobs/{export_job.id}", token=key)).status_code == 404
    session_list = (await user_api.get("/api/v1/jobs")).json()
    assert {job["id"] for job in session_list["data"]} == {tls_job.id, export_job.id}


async def test_a_running_jobs_progress_shows_through_the_api(runtime: Runtime, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    service = JobService(runtime)
    release = asyncio.Event()

    async def work(context: JobContext) -> dict[str, Any]:
        await context.step(1, 4, "Placing the order")
        await release.wait()
        return {}

    job = await service.submit(alice.user.id, "tls.acme", "Issue", work)
    for _ in range(250):
        body = (await user_api.get(f"/api/v1/jobs/{job.id}")).json()
        if body["progress_done"] == 1:
            break
        await asyncio.sleep(0.02)
    assert (body["status"], body["progress_done"], body["progress_total"]) == ("running", 1, 4)
    assert body["message"] == "Placing the order"
    release.set()
    assert (await service.wait(job.id, timeout=5)).status == "succeeded"
