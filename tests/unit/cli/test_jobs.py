"""`hostplane jobs list --user`, `hostplane jobs watch ID` (a progress bar until the job ends; exit 1 with the
reason when it failed) and `hostplane tls renew`, run against the state folder of the environment."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from hostplane.activity.log import Actor
from hostplane.db import utcnow
from hostplane.jobs.models import Job
from hostplane.runtime import build_runtime
from hostplane.settings import load_settings
from hostplane.users.service import UserAdminService
from tests.conftest import PASSWORD
from tests.unit.cli.helpers import flat, hostplane, init

CA_PROBLEM = {
    "type": "urn:ietf:params:acme:error:connection",
    "detail": "The certificate authority could not validate gone.test",
    "subproblems": [
        {
            "type": "urn:ietf:params:acme:error:connection",
            "detail": "127.0.0.2: Connection refused",
            "identifier": {"type": "dns", "value": "gone.test"},
        }
    ],
}


def database(action: Any) -> Any:
    """Run `action(runtime)` on a runtime built from the environment (the CLI's own settings)."""

    async def main() -> Any:
        runtime = build_runtime(load_settings())
        try:
            return await action(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


@pytest.fixture
def cli_state(state_dir: Any) -> int:
    """`hostplane init` and a user `carol`; returns carol's id."""
    init()

    async def prepare(runtime: Any) -> int:
        user = await UserAdminService(runtime).create_user(
            Actor(None, "test"), username="carol", email="carol@example.com", password=PASSWORD
        )
        return int(user.id)

    return int(database(prepare))


def insert_job(user_id: int, **values: Any) -> int:
    async def insert(runtime: Any) -> int:
        async with runtime.writing() as db:
            job = Job(user_id=user_id, kind="tls.acme", title="Issue the certificate of shop.test", **values)
            db.add(job)
            await db.flush()
            return int(job.id)

    return int(database(insert))


def update_job(job_id: int, **values: Any) -> None:
    async def update(runtime: Any) -> None:
        async with runtime.writing() as db:
            job = await db.get(Job, job_id)
            for name, value in values.items():
                setattr(job, name, value)

    database(update)


def test_watch_shows_a_progress_bar_until_the_job_has_succeeded(cli_state: int) -> None:
    job_id = insert_job(
        cli_state, status="running", progress_done=1, progress_total=6, message="Placing the order", worker="x:1"
    )
    finisher = threading.Timer(
        0.8,
        update_job,
        args=(job_id,),
        kwargs={"status": "succeeded", "progress_done": 6, "message": "Certificate installed", "finished_at": utcnow()},
    )
    finisher.start()
    try:
        result = hostplane("jobs", "watch", str(job_id), "--timeout", "20")
    finally:
        finisher.join()
    assert result.exit_code == 0, result.output
    output = flat(result.stdout)
    assert "Issue the certificate of shop.test" in output
    assert "6/6" in output
    assert "succeeded" in output
    assert "━" in result.stdout  # the bar itself


def test_watch_exits_1_with_the_reason_and_the_cas_problem_when_the_job_failed(cli_state: int) -> None:
    error = {
        "type": "https://hostplane.dev/problems/acme_refused",
        "title": "Certificate authority refused",
        "status": 502,
        "detail": "The certificate authority refused: it could not validate gone.test",
        "code": "acme_refused",
        "ca_problem": CA_PROBLEM,
    }
    job_id = insert_job(
        cli_state, status="failed", progress_done=3, progress_total=6, error=error, finished_at=utcnow()
    )
    result = hostplane("jobs", "watch", str(job_id))
    assert result.exit_code == 1
    assert "3/6" in result.stdout
    problem = flat(result.stderr)
    assert "The certificate authority refused: it could not validate gone.test (acme_refused)" in problem
    assert "gone.test: urn:ietf:params:acme:error:connection 127.0.0.2: Connection refused" in problem


def test_watch_of_an_unknown_job_exits_1(cli_state: int) -> None:
    result = hostplane("jobs", "watch", "999")
    assert result.exit_code == 1
    assert "No such job." in result.stderr


def test_jobs_list_shows_a_users_jobs_newest_first(cli_state: int) -> None:
    older = insert_job(cli_state, status="succeeded", progress_done=6, progress_total=6, finished_at=utcnow())
    newer = insert_job(cli_state, status="queued")
    result = hostplane("jobs", "list", "--user", "carol")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "tls.acme" in line]
    assert [line.split()[1] for line in lines] == [str(newer), str(older)]
    assert "Page 1 of 1 (2 jobs)." in flat(result.stdout)
    assert hostplane("jobs", "list", "--user", "nobody").exit_code == 1


def test_tls_renew_says_so_when_no_certificate_is_due(cli_state: int) -> None:
    result = hostplane("tls", "renew")
    assert result.exit_code == 0, result.output
    assert "No certificate is due for renewal." in result.stdout
