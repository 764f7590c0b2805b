"""Certificates from a real ACME CA (Pebble), validated over HTTP-01 through the panel's own nginx, as a user sees
them: the order is a job readable through the API, the issued certificate is served with SNI and chains to the
CA's root, the account key is made once, the CA's refusal reaches the job's error, and renewal replaces a
certificate close to expiry."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from hostplane.jobs.service import JobService
from hostplane.runtime import Runtime
from hostplane.system.nginx import NginxDriver
from hostplane.tls.acme import AcmeService
from hostplane.tls.acme_models import AcmeAccount
from hostplane.tls.service import CertificateService
from tests.conftest import Account, Api
from tests.integration.tls.conftest import Pebble
from tests.integration.tls.nginx_tls import handshake


async def add_domain(api: Api, name: str) -> int:
    response = await api.post("/api/v1/domains", json={"name": name})
    assert response.status_code == 201, response.text
    domain_id: int = response.json()["id"]
    return domain_id


async def order(api: Api, domain_id: int) -> dict[str, Any]:
    """Order through the API and poll the job until it has finished."""
    response = await api.post(f"/api/v1/domains/{domain_id}/certificate/acme")
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert job["kind"] == "tls.acme"
    assert job["status"] in ("queued", "running")
    for _ in range(600):
        job = (await api.get(f"/api/v1/jobs/{job['id']}")).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"the order did not finish: {job}")


def challenge_files(runtime: Runtime) -> list[str]:
    folder = runtime.settings.resolved_acme_webroot / ".well-known" / "acme-challenge"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


async def test_an_ordered_certificate_is_issued_and_served_with_sni_chaining_to_the_ca_root(
    runtime: Runtime, acme_nginx: NginxDriver, pebble: Pebble, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api, "shop.test")
    job = await order(user_api, domain_id)
    assert job["status"] == "succeeded", job["error"]
    assert (job["progress_done"], job["progress_total"]) == (6, 6)
    assert job["result"]["hostname"] == "shop.test"
    assert job["error"] is None

    served = await asyncio.to_thread(
        handshake, runtime.settings.resolved_nginx_https_port, "shop.test", cadata=pebble.root_pem
    )  # verified as a browser would: for that name, up to Pebble's root
    assert b"200 OK" in served.response.split(b"\r\n", 1)[0]
    info = (await user_api.get(f"/api/v1/domains/{domain_id}/certificate")).json()
    assert info["source"] == "acme"
    assert info["fingerprint_sha256"] == served.fingerprint
    assert info["sans"] == ["shop.test"]
    assert challenge_files(runtime) == []  # the HTTP-01 answers are gone


async def test_the_account_key_is_made_once_and_the_same_account_orders_again(
    runtime: Runtime, acme_nginx: NginxDriver, pebble: Pebble, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    first = await order(user_api, await add_domain(user_api, "one.test"))
    second = await order(user_api, await add_domain(user_api, "two.test"))
    assert first["status"] == second["status"] == "succeeded"
    assert first["result"]["account_url"] == second["result"]["account_url"]
    assert first["result"]["account_url"].startswith(pebble.directory_url.rsplit("/", 1)[0])
    async with runtime.reading() as db:
        accounts = list(await db.scalars(select(AcmeAccount)))
    assert len(accounts) == 1
    assert accounts[0].directory_url == pebble.directory_url
    assert accounts[0].account_url == first["result"]["account_url"]
    assert b"PRIVATE KEY" not in accounts[0].key_sealed  # sealed with the keyring, not stored in clear


async def test_the_certificate_authoritys_refusal_reaches_the_job_error(
    runtime: Runtime, acme_nginx: NginxDriver, pebble: Pebble, user_api: Api, alice: Account
) -> None:
    pebble.resolve("elsewhere.test", "127.0.0.2")  # the name points at a host where our nginx does not answer
    try:
        await user_api.login(alice)
        domain_id = await add_domain(user_api, "elsewhere.test")
        job = await order(user_api, domain_id)
    finally:
        pebble.forget("elsewhere.test")
    assert job["status"] == "failed"
    error = job["error"]
    assert error["code"] == "acme_refused"
    assert error["status"] == 502
    assert error["type"] == "https://hostplane.dev/problems/acme_refused"
    ca_problem = error["ca_problem"]
    assert ca_problem["type"].startswith("urn:ietf:params:acme:error:")
    assert ca_problem["detail"]
    assert "elsewhere.test" in error["detail"]
    subproblem = ca_problem["subproblems"][0]
    assert subproblem["identifier"] == {"type": "dns", "value": "elsewhere.test"}
    assert subproblem["type"].startswith("urn:ietf:params:acme:error:")
    assert "127.0.0.2" in subproblem["detail"]
    assert (await user_api.get(f"/api/v1/domains/{domain_id}/certificate")).status_code == 404
    assert challenge_files(runtime) == []


async def test_renewal_orders_again_a_certificate_close_to_expiry_and_serves_the_new_one(
    runtime: Runtime, acme_nginx: NginxDriver, pebble: Pebble, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api, "renew.test")
    first = await order(user_api, domain_id)
    assert first["status"] == "succeeded", first["error"]
    certificates = CertificateService(runtime)
    owner = alice.user
    before = await certificates.info(owner, "renew.test")
    assert before.days_left < 30  # Pebble issues for one hour here
    assert await certificates.due_for_renewal(30) == [(owner.id, "renew.test")]

    jobs = await AcmeService(runtime).renew_due()
    assert [job.title for job in jobs] == ["Renew the certificate of renew.test"]
    renewed = await JobService(runtime).wait(jobs[0].id, timeout=60)
    assert renewed.status == "succeeded", renewed.error

    after = await certificates.info(owner, "renew.test")
    assert after.fingerprint_sha256 != before.fingerprint_sha256
    assert after.not_after >= before.not_after
    served = await asyncio.to_thread(
        handshake, runtime.settings.resolved_nginx_https_port, "renew.test", cadata=pebble.root_pem
    )
    assert served.fingerprint == after.fingerprint_sha256


async def test_an_order_for_another_users_domain_is_not_found(
    runtime: Runtime, acme_nginx: NginxDriver, user_api: Api, alice: Account, bob: Account
) -> None:
    await user_api.login(bob)
    theirs = await add_domain(user_api, "bobs.test")
    await user_api.login(alice)
    response = await user_api.post(f"/api/v1/domains/{theirs}/certificate/acme")
    assert response.status_code == 404
    assert (await user_api.get("/api/v1/jobs")).json()["total"] == 0
