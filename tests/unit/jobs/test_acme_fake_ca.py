"""An ACME order from start to finish with every driver faked (system/fake.py): the in-memory CA checks the HTTP-01
answer the service publishes in the webroot and issues a real certificate for the order's key, which is installed
on the site through the websites' unit of work; when nginx refuses it, the job fails and nothing is left. The real
CA and nginx: tests/integration/tls/test_acme.py and tests/conformance/test_acme_client.py."""

from __future__ import annotations

import pytest
from cryptography import x509
from sqlalchemy import select

from hostplane.domains.service import DomainService
from hostplane.jobs.service import JobService, JobView
from hostplane.runtime import Runtime
from hostplane.system import acme as protocol
from hostplane.system.fake import FakeDrivers
from hostplane.tls.acme import AcmeService
from hostplane.tls.models import TlsCertificate
from tests.conftest import Account

HOST = "shop.test"


async def order(runtime: Runtime, owner: Account) -> JobView:
    job = await AcmeService(runtime).order(owner.user, HOST)
    return await JobService(runtime).wait(job.id, timeout=10)


@pytest.fixture
async def site(runtime: Runtime, fake_drivers: FakeDrivers, alice: Account) -> None:
    await DomainService(runtime).add(alice.user, HOST)


@pytest.mark.usefixtures("site")
async def test_an_order_is_validated_issued_and_installed_on_the_site(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    job = await order(runtime, alice)
    assert job.status == "succeeded", job.error
    ca = fake_drivers.acme
    [served] = ca.served
    [challenge] = ca.orders[0].challenges
    assert served == challenge.key_authorization  # what the CA found at the challenge URL when told to look
    assert not (runtime.settings.resolved_acme_webroot / protocol.CHALLENGE_FOLDER / challenge.token).exists()
    async with runtime.reading() as db:
        row = await db.scalar(select(TlsCertificate))
    assert row is not None and row.source == "acme"
    assert x509.load_pem_x509_certificate(row.certificate_pem.encode()) == ca.issued[0]
    [live] = fake_drivers.websites.live or ()
    assert live.tls_id == row.files_id
    assert row.files_id in fake_drivers.websites.tls_files
    assert all(client.closed for client in ca.clients)


@pytest.mark.usefixtures("site")
async def test_an_issued_certificate_nginx_refuses_fails_the_job_and_leaves_nothing(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    fake_drivers.websites.refuse_next()
    job = await order(runtime, alice)
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "service_config_rejected"
    assert len(fake_drivers.acme.issued) == 1
    async with runtime.reading() as db:
        assert await db.scalar(select(TlsCertificate)) is None
    assert fake_drivers.websites.tls_files == {}
    assert [site.tls_id for site in fake_drivers.websites.live or ()] == [""]


@pytest.mark.usefixtures("site")
async def test_an_answer_the_ca_cannot_fetch_fails_with_its_problem_document(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account
) -> None:
    fake_drivers.acme.webroot = runtime.settings.state_dir / "not-served"  # the CA looks where nothing is published
    job = await order(runtime, alice)
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "acme_refused"
    problem = job.error["ca_problem"]
    assert problem["type"] == "urn:ietf:params:acme:error:unauthorized"
    assert problem["subproblems"][0]["identifier"] == {"type": "dns", "value": HOST}
    assert fake_drivers.acme.issued == []
    assert fake_drivers.websites.tls_files == {}
