"""An uploaded certificate as a client sees it: our real nginx presents exactly that certificate for its SNI name,
serves the site over TLS, and never hands it out for another name; refusals change nothing that is live."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.nginx import NginxDriver
from tests.conftest import Account, Api
from tests.integration.nginx_fixture import running_nginx
from tests.integration.tls.nginx_tls import handshake
from tests.integration.websites.conftest import free_port
from tests.unit.tls.pki import Pki, make_pki
from tests.unit.tls.test_certificates_api import BAD_INPUTS, live_snapshot, upload_body

HOST = "site.test"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki("Upload")


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], nginx_served: dict[str, Path]) -> Settings:
    return settings_factory(nginx_http_port=free_port(), nginx_https_port=free_port(), **nginx_served)


@pytest.fixture
async def nginx(runtime: Runtime) -> AsyncIterator[NginxDriver]:
    async with running_nginx(runtime) as driver:
        yield driver


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("bob")
    return account


async def add_domain(api: Api, name: str) -> int:
    response = await api.post("/api/v1/domains", json={"name": name})
    assert response.status_code == 201, response.text
    domain_id: int = response.json()["id"]
    return domain_id


async def upload(api: Api, domain_id: int, body: dict[str, str]) -> dict[str, Any]:
    response = await api.put(f"/api/v1/domains/{domain_id}/certificate", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def https_port(runtime: Runtime) -> int:
    return runtime.settings.resolved_nginx_https_port


async def test_a_handshake_with_the_sites_name_gets_exactly_the_uploaded_certificate_and_the_page(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime, nginx: NginxDriver
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api, HOST)
    info = await upload(user_api, domain_id, upload_body(pki))
    seen = await asyncio.to_thread(handshake, https_port(runtime), HOST, cadata=pki.root.cert_pem)
    assert seen.fingerprint == info["fingerprint_sha256"]
    assert seen.response.startswith(b"HTTP/1.1 200")
    assert HOST.encode() in seen.response  # the default page names the site


async def test_an_unknown_or_missing_sni_name_gets_no_certificate(
    user_api: Api, alice: Account, bob: Account, pki: Pki, runtime: Runtime, nginx: NginxDriver
) -> None:
    await user_api.login(alice)
    await upload(user_api, await add_domain(user_api, HOST), upload_body(pki))
    await user_api.login(bob)
    await add_domain(user_api, "plain.test")  # bob's site without a certificate
    port = https_port(runtime)
    for name in ("unknown.test", "plain.test", "www.site.test", None):
        with pytest.raises(ssl.SSLError):
            await asyncio.to_thread(handshake, port, name)
    # and the site itself still answers
    assert (await asyncio.to_thread(handshake, port, HOST)).response.startswith(b"HTTP/1.1 200")


async def test_two_sites_each_get_their_own_certificate(
    user_api: Api, alice: Account, bob: Account, pki: Pki, runtime: Runtime, nginx: NginxDriver
) -> None:
    await user_api.login(alice)
    first = await upload(user_api, await add_domain(user_api, HOST), upload_body(pki))
    await user_api.login(bob)
    second = await upload(user_api, await add_domain(user_api, "bob.test"), upload_body(pki, "bob.test"))
    port = https_port(runtime)
    assert (await asyncio.to_thread(handshake, port, HOST)).fingerprint == first["fingerprint_sha256"]
    assert (await asyncio.to_thread(handshake, port, "bob.test")).fingerprint == second["fingerprint_sha256"]


async def test_a_replaced_certificate_is_served_right_after_the_call(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime, nginx: NginxDriver
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api, HOST)
    await upload(user_api, domain_id, upload_body(pki))
    newer = await upload(user_api, domain_id, upload_body(pki))
    seen = await asyncio.to_thread(handshake, https_port(runtime), HOST)
    assert seen.fingerprint == newer["fingerprint_sha256"]


async def test_after_removal_the_site_gets_no_certificate_but_still_answers_http(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime, nginx: NginxDriver
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api, HOST)
    await upload(user_api, domain_id, upload_body(pki))
    assert (await user_api.delete(f"/api/v1/domains/{domain_id}/certificate")).status_code == 204
    with pytest.raises((ssl.SSLError, ConnectionError)):  # no site has TLS left: the port is closed
        await asyncio.to_thread(handshake, https_port(runtime), HOST)
    async with httpx.AsyncClient() as client:
        page = await client.get(f"http://127.0.0.1:{runtime.settings.nginx_http_port}/", headers={"Host": HOST})
    assert page.status_code == 200
    assert HOST in page.text


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_a_bad_upload_gets_422_and_the_live_certificate_and_generation_stay(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime, nginx: NginxDriver, case: str
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api, HOST)
    live = await upload(user_api, domain_id, upload_body(pki))
    before = live_snapshot(runtime)
    make, _, _ = BAD_INPUTS[case]
    response = await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=make(pki))
    assert response.status_code == 422, response.text
    assert live_snapshot(runtime) == before
    seen = await asyncio.to_thread(handshake, https_port(runtime), HOST)
    assert seen.fingerprint == live["fingerprint_sha256"]


async def test_a_key_file_nginx_cannot_load_is_refused_and_the_previous_certificate_stays_live(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime, nginx: NginxDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api, HOST)
    live = await upload(user_api, domain_id, upload_body(pki))
    before = live_snapshot(runtime)
    real_write = NginxDriver.write_tls_files

    def write_unloadable_key(self: NginxDriver, tls_id: str, fullchain: bytes, key: bytes) -> bool:
        return real_write(self, tls_id, fullchain, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")

    monkeypatch.setattr(NginxDriver, "write_tls_files", write_unloadable_key)
    response = await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=upload_body(pki))
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "service_config_rejected"
    assert live_snapshot(runtime) == before
    current = await user_api.get(f"/api/v1/domains/{domain_id}/certificate")
    assert current.json()["fingerprint_sha256"] == live["fingerprint_sha256"]
    seen = await asyncio.to_thread(handshake, https_port(runtime), HOST)
    assert seen.fingerprint == live["fingerprint_sha256"]
