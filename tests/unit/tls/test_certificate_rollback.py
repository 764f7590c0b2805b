"""The rollback paths of a certificate install (tls/service.py), with the drivers faked (system/fake.py): when nginx
refuses, the row is rolled back, the files written for it are removed, and the previous certificate stays live
with its files. The real nginx keeps these rules: tests/conformance/test_websites_driver.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hostplane.domains.service import DomainService
from hostplane.errors import ServiceConfigRejected
from hostplane.runtime import Runtime
from hostplane.system.fake import FakeDrivers
from hostplane.tls.models import TlsCertificate
from hostplane.tls.service import CertificateService
from tests.conftest import Account
from tests.unit.tls.pki import Pki, make_pki

HOST = "site.test"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


async def install(service: CertificateService, owner: Account, pki: Pki) -> str:
    leaf = pki.leaf(HOST)
    info = await service.install(
        owner.user, HOST, certificate_pem=leaf.cert_pem, private_key_pem=leaf.key_pem, chain_pem=pki.chain_pem,
        source="upload",
    )  # fmt: skip
    return info.fingerprint_sha256


async def stored_files_id(runtime: Runtime) -> str | None:
    async with runtime.reading() as db:
        files_id: str | None = await db.scalar(select(TlsCertificate.files_id))
        return files_id


def live_tls_ids(fake_drivers: FakeDrivers) -> list[str]:
    return [site.tls_id for site in fake_drivers.websites.live or ()]


async def test_an_installed_certificate_is_live_with_its_files(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, pki: Pki
) -> None:
    await DomainService(runtime).add(alice.user, HOST)
    await install(CertificateService(runtime), alice, pki)
    files_id = await stored_files_id(runtime)
    assert files_id is not None
    assert live_tls_ids(fake_drivers) == [files_id]
    chain, key = fake_drivers.websites.tls_files[files_id]
    assert chain.startswith(b"-----BEGIN CERTIFICATE-----") and b"PRIVATE KEY" in key


async def test_a_certificate_nginx_refuses_leaves_no_row_and_no_files(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, pki: Pki
) -> None:
    await DomainService(runtime).add(alice.user, HOST)
    fake_drivers.websites.refuse_next()
    with pytest.raises(ServiceConfigRejected):
        await install(CertificateService(runtime), alice, pki)
    assert await stored_files_id(runtime) is None
    assert fake_drivers.websites.tls_files == {}
    assert live_tls_ids(fake_drivers) == [""]  # still served over plain HTTP
    refused = fake_drivers.websites.refused[-1]
    assert refused[0].tls_id  # the refused configuration did name the new files


async def test_a_replacement_nginx_refuses_keeps_the_previous_certificate_live_with_its_files(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, pki: Pki
) -> None:
    service = CertificateService(runtime)
    await DomainService(runtime).add(alice.user, HOST)
    await install(service, alice, pki)
    first = await stored_files_id(runtime)
    assert first is not None
    fake_drivers.websites.refuse_next()
    with pytest.raises(ServiceConfigRejected):
        await install(service, alice, make_pki("Other"))
    assert await stored_files_id(runtime) == first
    assert live_tls_ids(fake_drivers) == [first]
    assert set(fake_drivers.websites.tls_files) == {first}


async def test_removing_a_certificate_nginx_refuses_keeps_it(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, pki: Pki
) -> None:
    service = CertificateService(runtime)
    await DomainService(runtime).add(alice.user, HOST)
    await install(service, alice, pki)
    files_id = await stored_files_id(runtime)
    fake_drivers.websites.refuse_next()
    with pytest.raises(ServiceConfigRejected):
        await service.remove(alice.user, HOST)
    assert await stored_files_id(runtime) == files_id
    assert live_tls_ids(fake_drivers) == [files_id]
    await service.remove(alice.user, HOST)
    assert live_tls_ids(fake_drivers) == [""]


async def test_certificate_files_lost_on_disk_are_written_again_from_the_database(
    runtime: Runtime, fake_drivers: FakeDrivers, alice: Account, pki: Pki
) -> None:
    domains = DomainService(runtime)
    await domains.add(alice.user, HOST)
    await install(CertificateService(runtime), alice, pki)
    files_id = await stored_files_id(runtime)
    assert files_id is not None
    written = fake_drivers.websites.tls_files.pop(files_id)  # someone removed them
    await domains.add(alice.user, "other.test")  # any later change renders from the database
    assert fake_drivers.websites.tls_files[files_id] == written
    assert sorted(live_tls_ids(fake_drivers)) == ["", files_id]
