"""POST /ssl/upload and /ssl/get-left-days: the website's certificate through the core CertificateService."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from hostplane.jobs.models import Job
from hostplane.jobs.service import JobService
from hostplane.runtime import Runtime
from hostplane.tls.models import TlsCertificate
from tests.conftest import Account, Api, row_counts
from tests.dialects.easymail.easy import Easy, assert_failure
from tests.unit.tls.pki import DUPLICATE_SAN, MALFORMED_SAN, Pki, issue_with_raw_sans, make_pki


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki("Easymail")


async def add_website(api: Api, account: Account, name: str) -> None:
    token = await api.login(account)
    response = await api.post("/api/v1/domains", json={"name": name}, token=token)
    api.token = None
    assert response.status_code == 201, response.text


async def certificates(runtime: Runtime) -> int:
    async with runtime.reading() as db:
        return int(await db.scalar(select(func.count()).select_from(TlsCertificate)) or 0)


async def test_upload_installs_the_certificate_on_the_website_it_covers(
    alice_easy: Easy, alice: Account, pki: Pki
) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    await add_website(alice_easy.api, alice, "other.example")
    leaf = pki.leaf("example.com", "www.example.com")
    fields = {"ssl_certificate": leaf.cert_pem + pki.chain_pem, "ssl_certificate_key": leaf.key_pem}
    response = await alice_easy.call("POST", "/ssl/upload", fields)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"result", "hostname", "issuer", "not_before", "not_after", "left_days"}
    assert body["result"] is True
    assert body["hostname"] == "example.com"
    assert "Easymail Intermediate CA" in body["issuer"]
    assert body["left_days"] in (88, 89)
    dt.datetime.fromisoformat(body["not_after"])
    token = await alice_easy.api.login(alice)
    native = await alice_easy.api.get("/api/v1/domains", token=token)
    [site] = [d for d in native.json() if d["name"] == "example.com"]
    certificate = await alice_easy.api.get(f"/api/v1/domains/{site['id']}/certificate", token=token)
    assert certificate.status_code == 200, certificate.text
    assert certificate.json()["source"] == "upload"


async def test_upload_sent_as_files_with_a_chosen_hostname(alice_easy: Easy, alice: Account, pki: Pki) -> None:
    """`curl -F ssl_certificate=@cert.pem -F ssl_certificate_key=@key.pem -F hostname=...`"""
    await add_website(alice_easy.api, alice, "example.com")
    await add_website(alice_easy.api, alice, "www.example.com")
    leaf = pki.leaf("example.com", "www.example.com")
    response = await alice_easy.api.http.post(
        "/easymail/ssl/upload",
        headers={"Auth-token": alice_easy.token or "", "Cache-Control": "no-cache"},
        files={
            "ssl_certificate": ("cert.pem", leaf.cert_pem.encode(), "application/x-pem-file"),
            "ssl_certificate_key": ("key.pem", leaf.key_pem.encode(), "application/x-pem-file"),
            "hostname": (None, "www.example.com"),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["hostname"] == "www.example.com"


async def test_upload_for_a_certificate_covering_several_sites_needs_the_hostname(
    alice_easy: Easy, alice: Account, pki: Pki, runtime: Runtime
) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    await add_website(alice_easy.api, alice, "www.example.com")
    leaf = pki.leaf("example.com", "www.example.com")
    fields = {"ssl_certificate": leaf.cert_pem, "ssl_certificate_key": leaf.key_pem}
    assert "hostname" in assert_failure(await alice_easy.call("POST", "/ssl/upload", fields), 400)
    assert await certificates(runtime) == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda cert, key: {"ssl_certificate": cert},
        lambda cert, key: {"ssl_certificate_key": key, "hostname": "example.com"},
        lambda cert, key: {"ssl_certificate": cert.replace("\n", "\r\n"), "ssl_certificate_key": key},
        lambda cert, key: {"ssl_certificate": cert, "ssl_certificate_key": key.replace("A", "B", 3)},
        lambda cert, key: {
            "ssl_certificate": "not a certificate",
            "ssl_certificate_key": key,
            "hostname": "example.com",
        },
        lambda cert, key: {
            "ssl_certificate": cert + "x" * 70_000,
            "ssl_certificate_key": key,
            "hostname": "example.com",
        },
        lambda cert, key: {"ssl_certificate": cert, "ssl_certificate_key": key, "hostname": "../../etc/passwd"},
        lambda cert, key: {"ssl_certificate": cert, "ssl_certificate_key": key, "hostname": "example.com\r\nX: y"},
    ],
    ids=["no-key", "no-cert", "crlf", "bad-key", "garbage", "oversized", "traversal", "header-injection"],
)
async def test_a_bad_upload_is_400_and_installs_nothing(
    alice_easy: Easy, alice: Account, pki: Pki, runtime: Runtime, mangle: Callable[[str, str], dict[str, str]]
) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    leaf = pki.leaf("example.com")
    response = await alice_easy.call("POST", "/ssl/upload", mangle(leaf.cert_pem, leaf.key_pem))
    assert_failure(response, 400)
    assert await certificates(runtime) == 0


async def test_a_certificate_for_another_users_site_is_404(
    alice_easy: Easy, admin_api: Api, make_account: Callable[..., Any], pki: Pki, runtime: Runtime
) -> None:
    await add_website(admin_api, await make_account("bob"), "bob.example")
    leaf = pki.leaf("bob.example")
    fields = {"ssl_certificate": leaf.cert_pem, "ssl_certificate_key": leaf.key_pem, "hostname": "bob.example"}
    assert_failure(await alice_easy.call("POST", "/ssl/upload", fields), 404)
    assert_failure(await alice_easy.call("POST", "/ssl/get-left-days", {"hostname": "bob.example"}), 404)
    assert await certificates(runtime) == 0


async def test_get_left_days_answers_the_days_until_expiry(alice_easy: Easy, alice: Account, pki: Pki) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    now = dt.datetime.now(dt.UTC)
    leaf = pki.leaf("example.com", not_after=now + dt.timedelta(days=30, hours=12))
    fields = {"ssl_certificate": leaf.cert_pem, "ssl_certificate_key": leaf.key_pem}
    assert (await alice_easy.call("POST", "/ssl/upload", fields)).status_code == 200
    response = await alice_easy.call("POST", "/ssl/get-left-days", {"hostname": "example.com"})
    assert response.status_code == 200, response.text
    assert response.json() == {"result": True, "hostname": "example.com", "left_days": 30}


async def test_get_left_days_without_a_certificate_is_404(alice_easy: Easy, alice: Account) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    assert_failure(await alice_easy.call("POST", "/ssl/get-left-days", {"hostname": "example.com"}), 404)
    assert_failure(await alice_easy.call("POST", "/ssl/get-left-days", {"hostname": "nope.example"}), 404)
    assert_failure(await alice_easy.call("POST", "/ssl/get-left-days", {}), 400)


async def test_letsencrypt_install_starts_an_order_job_for_the_users_website(
    alice_easy: Easy, alice: Account, runtime: Runtime
) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    response = await alice_easy.call("POST", "/ssl/letsencrypt/install", {"hostname": "example.com"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"result", "hostname", "job_id", "status"}
    assert body["result"] is True
    assert body["hostname"] == "example.com"
    assert isinstance(body["job_id"], int)
    assert body["status"] in ("queued", "running")
    job = await JobService(runtime).wait(body["job_id"], 30)
    assert (job.user_id, job.kind) == (alice.user.id, "tls.acme")
    assert job.status == "failed"  # the CA of these tests is a closed port (see conftest)
    token = await alice_easy.api.login(alice)
    native = await alice_easy.api.get(f"/api/v1/jobs/{body['job_id']}", token=token)
    assert native.status_code == 200, native.text
    assert native.json()["status"] == "failed"


async def test_letsencrypt_install_for_an_unknown_or_another_users_site_is_404_and_starts_nothing(
    alice_easy: Easy, admin_api: Api, make_account: Callable[..., Any], runtime: Runtime
) -> None:
    await add_website(admin_api, await make_account("bob"), "bob.example")
    for hostname in ("bob.example", "nope.example"):
        assert_failure(await alice_easy.call("POST", "/ssl/letsencrypt/install", {"hostname": hostname}), 404)
    for bad in ("../etc", "example.com\nx", "a" * 300 + ".com", ""):
        assert_failure(await alice_easy.call("POST", "/ssl/letsencrypt/install", {"hostname": bad}), 400)
    async with runtime.reading() as db:
        assert await db.scalar(select(func.count()).select_from(Job)) == 0


@pytest.mark.parametrize(
    ("raw_sans", "names"),
    [([DUPLICATE_SAN], ["example.com"]), ([MALFORMED_SAN], []), ([MALFORMED_SAN], ["example.com"])],
    ids=["duplicated", "malformed", "malformed-after-a-good-one"],
)
@pytest.mark.parametrize("hostname", [None, "example.com"], ids=["hostname-from-the-certificate", "hostname-given"])
async def test_an_upload_with_a_bad_subject_alt_name_is_400_naming_the_certificate_and_installs_nothing(
    alice_easy: Easy,
    alice: Account,
    pki: Pki,
    runtime: Runtime,
    raw_sans: list[bytes],
    names: list[str],
    hostname: str | None,
) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    before = await row_counts(runtime)
    leaf = issue_with_raw_sans("example.com", raw_sans, issuer=pki.intermediate, names=names)
    fields = {"ssl_certificate": leaf.cert_pem, "ssl_certificate_key": leaf.key_pem}
    fields |= {"ssl_certificate_chain": pki.chain_pem} | ({"hostname": hostname} if hostname else {})
    msg = assert_failure(await alice_easy.call("POST", "/ssl/upload", fields), 400)
    assert msg.startswith("The certificate could not be parsed")
    assert await row_counts(runtime) == before
    assert await certificates(runtime) == 0
