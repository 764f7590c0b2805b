"""POST /ssl/letsencrypt/install and /ssl/get-left-days of the EasySuperSecureEmail dialect against a real ACME
CA (Pebble), validated over HTTP-01 through the panel's own nginx (fixtures of this folder's conftest)."""

from __future__ import annotations

import asyncio

from hostplane.jobs.service import JobService
from hostplane.runtime import Runtime
from hostplane.system.nginx import NginxDriver
from tests.conftest import Account, Api
from tests.dialects.easymail.easy import Easy, assert_failure
from tests.integration.tls.conftest import Pebble
from tests.integration.tls.nginx_tls import handshake


async def test_letsencrypt_install_through_easymail_issues_and_serves_the_certificate(
    runtime: Runtime, acme_nginx: NginxDriver, pebble: Pebble, admin_api: Api, alice: Account
) -> None:
    token = await admin_api.login(alice)
    assert (await admin_api.post("/api/v1/domains", json={"name": "mail-shop.test"})).status_code == 201
    admin_api.token = None
    easy = Easy(admin_api)
    await easy.auth(alice)
    assert_failure(await easy.call("POST", "/ssl/get-left-days", {"hostname": "mail-shop.test"}), 404)

    response = await easy.call("POST", "/ssl/letsencrypt/install", {"hostname": "mail-shop.test"})
    assert response.status_code == 200, response.text
    body = response.json()
    job = await JobService(runtime).wait(body["job_id"], 60)
    assert job.status == "succeeded", job.error
    native = await admin_api.get(f"/api/v1/jobs/{body['job_id']}", token=token)
    assert native.json()["result"]["hostname"] == "mail-shop.test"

    served = await asyncio.to_thread(
        handshake, runtime.settings.resolved_nginx_https_port, "mail-shop.test", cadata=pebble.root_pem
    )
    assert b"200 OK" in served.response.split(b"\r\n", 1)[0]
    left = await easy.call("POST", "/ssl/get-left-days", {"hostname": "mail-shop.test"})
    assert left.json() == {"result": True, "hostname": "mail-shop.test", "left_days": 0}  # Pebble issues for 1 hour
