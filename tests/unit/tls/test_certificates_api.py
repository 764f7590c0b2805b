"""/api/v1/domains/{id}/certificate: upload, read (days left), remove; owner-scoped; every refusal leaves the nginx
configuration as it was. The configuration is checked with the real `nginx -t` (no nginx serves here: the
integration tests make TLS handshakes)."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hostplane.runtime import Runtime
from hostplane.system.nginx import NginxDriver
from hostplane.tls.models import TlsCertificate, key_context
from hostplane.tls.service import CertificateService
from tests.conftest import Account, Api
from tests.unit.tls.pki import DUPLICATE_SAN, MALFORMED_SAN, Pki, issue_with_raw_sans, make_pki

HOST = "site.test"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("bob")
    return account


def driver(runtime: Runtime) -> NginxDriver:
    return NginxDriver.from_settings(runtime.settings)


def live_snapshot(runtime: Runtime) -> tuple[Path | None, dict[str, str], list[str]]:
    """The live generation, its files and the certificate files on disk."""
    nginx = driver(runtime)
    live = nginx.live_generation()
    files = {} if live is None else {str(p.relative_to(live)): p.read_text() for p in live.rglob("*") if p.is_file()}
    tls_dir = nginx.layout.tls_dir
    return live, files, sorted(p.name for p in tls_dir.iterdir()) if tls_dir.exists() else []


async def add_domain(api: Api, name: str = HOST) -> int:
    response = await api.post("/api/v1/domains", json={"name": name})
    assert response.status_code == 201, response.text
    domain_id: int = response.json()["id"]
    return domain_id


def upload_body(pki: Pki, *names: str, **kwargs: Any) -> dict[str, str]:
    leaf = pki.leaf(*(names or (HOST,)), **kwargs)
    return {"certificate": leaf.cert_pem, "private_key": leaf.key_pem, "chain": pki.chain_pem}


async def test_an_uploaded_certificate_is_reported_with_its_days_left(user_api: Api, alice: Account, pki: Pki) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    response = await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=upload_body(pki))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["hostname"] == HOST
    assert body["source"] == "upload"
    assert body["sans"] == [HOST]
    assert body["days_left"] in (89, 90)
    assert "private_key" not in body
    read = await user_api.get(f"/api/v1/domains/{domain_id}/certificate")
    assert read.status_code == 200
    assert read.json()["fingerprint_sha256"] == body["fingerprint_sha256"]


async def test_the_vhost_gets_a_tls_listener_with_root_only_key_files(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    assert (await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=upload_body(pki))).status_code == 200
    _, files, tls_files = live_snapshot(runtime)
    port = runtime.settings.resolved_nginx_https_port
    vhost = files[f"sites/{HOST}.conf"]
    assert f"listen 127.0.0.1:{port} ssl;" in vhost
    assert f"listen 127.0.0.1:{port} ssl default_server;" in files["http.conf"]
    assert "ssl_reject_handshake on;" in files["http.conf"]
    tls_dir = driver(runtime).layout.tls_dir
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    assert len(tls_files) == 2
    for name in tls_files:
        info = (tls_dir / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == os.getuid()
        assert f'"{tls_dir / name}"' in vhost


async def test_without_certificates_there_is_no_tls_listener(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    await add_domain(user_api)
    _, files, _ = live_snapshot(runtime)
    assert " ssl" not in files["http.conf"] + files[f"sites/{HOST}.conf"]


async def test_the_private_key_is_stored_encrypted(user_api: Api, alice: Account, pki: Pki, runtime: Runtime) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    body = upload_body(pki)
    assert (await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=body)).status_code == 200
    async with runtime.reading() as db:
        row = (await db.scalars(select(TlsCertificate))).one()
    assert b"PRIVATE KEY" not in row.private_key_sealed
    opened = runtime.keyring.open(row.private_key_sealed, key_context(domain_id)).decode()
    assert opened == body["private_key"]


async def test_another_users_domain_is_not_found_for_every_method(
    user_api: Api, alice: Account, bob: Account, pki: Pki
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    assert (await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=upload_body(pki))).status_code == 200
    await user_api.login(bob)
    url = f"/api/v1/domains/{domain_id}/certificate"
    assert (await user_api.get(url)).status_code == 404
    assert (await user_api.put(url, json=upload_body(pki))).status_code == 404
    assert (await user_api.delete(url)).status_code == 404
    await user_api.login(alice)
    assert (await user_api.get(url)).status_code == 200


async def test_a_domain_without_certificate_reads_as_not_found(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    assert (await user_api.get(f"/api/v1/domains/{domain_id}/certificate")).status_code == 404


BAD_INPUTS: dict[str, tuple[Callable[[Pki], dict[str, str]], str, str]] = {
    "wrong-key": (lambda pki: {**upload_body(pki), "private_key": pki.leaf(HOST).key_pem}, "private_key", "mismatch"),
    "expired": (
        lambda pki: upload_body(
            pki,
            not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
            not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        ),
        "certificate",
        "expired",
    ),
    "wrong-hostname": (lambda pki: upload_body(pki, "other.test"), "certificate", "hostname"),
    "chain-out-of-order": (
        lambda pki: {**upload_body(pki), "chain": pki.root.cert_pem + pki.intermediate.cert_pem},
        "chain",
        "order",
    ),
    "oversized": (lambda pki: {**upload_body(pki), "chain": pki.chain_pem * 70}, "chain", "max"),
    "crlf": (lambda pki: {k: v.replace("\n", "\r\n") for k, v in upload_body(pki).items()}, "certificate", "crlf"),
    "garbage": (lambda pki: {**upload_body(pki), "certificate": "not a certificate"}, "certificate", "pem"),
    "path-in-pem": (lambda pki: {**upload_body(pki), "private_key": "../../etc/shadow"}, "private_key", "pem"),
    "duplicated-san": (lambda pki: raw_san_body(pki, [DUPLICATE_SAN], [HOST]), "certificate", "pem"),
    "malformed-san": (lambda pki: raw_san_body(pki, [MALFORMED_SAN], []), "certificate", "pem"),
    "malformed-san-after-a-good-one": (lambda pki: raw_san_body(pki, [MALFORMED_SAN], [HOST]), "certificate", "pem"),
    "malformed-chain": (
        lambda pki: {
            **upload_body(pki),
            "chain": issue_with_raw_sans("Bad CA", [MALFORMED_SAN], issuer=pki.root, names=[]).cert_pem,
        },
        "chain",
        "pem",
    ),
}


def raw_san_body(pki: Pki, raw_sans: list[bytes], names: list[str]) -> dict[str, str]:
    leaf = issue_with_raw_sans(HOST, raw_sans, issuer=pki.intermediate, names=names)
    return {"certificate": leaf.cert_pem, "private_key": leaf.key_pem, "chain": pki.chain_pem}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_a_bad_upload_gets_422_naming_field_and_rule_and_touches_no_config(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime, case: str
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    before = live_snapshot(runtime)
    make, field, rule = BAD_INPUTS[case]
    response = await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=make(pki))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["errors"][0]["field"], problem["errors"][0]["rule"]) == (field, rule)
    assert live_snapshot(runtime) == before
    assert (await user_api.get(f"/api/v1/domains/{domain_id}/certificate")).status_code == 404


async def test_a_refusal_names_the_field_and_the_rule(user_api: Api, alice: Account, pki: Pki) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    response = await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=BAD_INPUTS["wrong-key"][0](pki))
    assert response.status_code == 422
    text = response.text
    assert "private_key" in text
    assert "does not match" in text


async def test_a_certificate_nginx_refuses_leaves_the_previous_one_live_and_nothing_committed(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    url = f"/api/v1/domains/{domain_id}/certificate"
    first = await user_api.put(url, json=upload_body(pki))
    assert first.status_code == 200
    before = live_snapshot(runtime)

    real_write = NginxDriver.write_tls_files

    def write_unloadable_key(self: NginxDriver, tls_id: str, fullchain: bytes, key: bytes) -> bool:
        return real_write(self, tls_id, fullchain, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")

    monkeypatch.setattr(NginxDriver, "write_tls_files", write_unloadable_key)
    refused = await user_api.put(url, json=upload_body(pki))
    assert refused.status_code == 502, refused.text
    assert refused.json()["code"] == "service_config_rejected"
    assert live_snapshot(runtime) == before  # same generation, same files, the refused key files removed
    assert (await user_api.get(url)).json()["fingerprint_sha256"] == first.json()["fingerprint_sha256"]


async def test_removing_the_certificate_drops_the_tls_listener_and_its_files(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    url = f"/api/v1/domains/{domain_id}/certificate"
    assert (await user_api.put(url, json=upload_body(pki))).status_code == 200
    assert (await user_api.delete(url)).status_code == 204
    assert (await user_api.get(url)).status_code == 404
    assert (await user_api.delete(url)).status_code == 404
    _, files, _ = live_snapshot(runtime)
    assert " ssl" not in files[f"sites/{HOST}.conf"]
    # the previous generation may still refer to the files; one more change and they are gone
    await add_domain(user_api, "second.test")
    assert live_snapshot(runtime)[2] == []


async def test_replacing_a_certificate_serves_the_new_one_and_prunes_old_files(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    url = f"/api/v1/domains/{domain_id}/certificate"
    fingerprints = []
    for _ in range(3):
        response = await user_api.put(url, json=upload_body(pki))
        assert response.status_code == 200
        fingerprints.append(response.json()["fingerprint_sha256"])
    assert (await user_api.get(url)).json()["fingerprint_sha256"] == fingerprints[-1]
    assert len(live_snapshot(runtime)[2]) == 4  # the live generation's pair and the previous one's


async def test_deleting_the_domain_deletes_its_certificate(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    assert (await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=upload_body(pki))).status_code == 200
    assert (await user_api.delete(f"/api/v1/domains/{domain_id}")).status_code == 204
    async with runtime.reading() as db:
        assert (await db.scalars(select(TlsCertificate))).all() == []


async def test_removed_certificate_files_are_written_again_by_reconcile(
    user_api: Api, alice: Account, pki: Pki, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    assert (await user_api.put(f"/api/v1/domains/{domain_id}/certificate", json=upload_body(pki))).status_code == 200
    tls_dir = driver(runtime).layout.tls_dir
    contents = {p.name: p.read_bytes() for p in tls_dir.iterdir()}
    for path in tls_dir.iterdir():
        path.unlink()
    from hostplane.domains.service import DomainService

    await DomainService(runtime).reconcile()
    assert {p.name: p.read_bytes() for p in tls_dir.iterdir()} == contents


async def test_days_left_and_due_for_renewal_come_from_the_certificate(
    alice: Account, pki: Pki, runtime: Runtime, user_api: Api
) -> None:
    await user_api.login(alice)
    await add_domain(user_api)
    await add_domain(user_api, "soon.test")
    service = CertificateService(runtime)
    now = dt.datetime.now(dt.UTC)
    later = pki.leaf(HOST)
    soon = pki.leaf("soon.test", not_after=now + dt.timedelta(days=10, hours=1))
    await service.install(
        alice.user,
        HOST,
        certificate_pem=later.cert_pem,
        private_key_pem=later.key_pem,
        chain_pem=pki.chain_pem,
        source="upload",
    )
    await service.install(
        alice.user,
        "soon.test",
        certificate_pem=soon.cert_pem,
        private_key_pem=soon.key_pem,
        chain_pem=pki.chain_pem,
        source="acme",
    )
    assert await service.days_left(alice.user, "soon.test") == 10
    assert await service.days_left(alice.user, HOST) in (89, 90)
    assert await service.due_for_renewal(30) == [(alice.user.id, "soon.test")]
    assert await service.due_for_renewal(5) == []
