"""The ACME order job's own rules, with a scripted CA client (Pebble sets no rate limits and always sends good
tokens, so these cases need one; the real protocol runs in tests/integration/tls/test_acme.py): rate limits waited
out within bounds and recorded, the CA's problem document kept, challenge files served only while answered,
tokens that could escape the webroot refused, owner scoping, one order at a time, renewal of due certificates."""

from __future__ import annotations

import asyncio
import datetime as dt
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import select

from hostplane.domains.models import Domain
from hostplane.errors import Conflict, NotFound
from hostplane.jobs.service import JobService, JobView
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from hostplane.system import acme as protocol
from hostplane.tls.acme import AcmeRateLimited, AcmeService, split_chain
from hostplane.tls.acme_models import AcmeAccount
from hostplane.tls.models import TlsCertificate
from hostplane.tls.selfsigned import self_signed_pem
from tests.conftest import Account

RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited"
TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"


class ScriptedCa:
    """Answers like a CA; `refusals` are raised by new_order, one per call, before it succeeds."""

    def __init__(self, webroot: Path, refusals: list[protocol.AcmeProblem] | None = None, token: str = TOKEN) -> None:
        self.webroot = webroot
        self.refusals = list(refusals or [])
        self.token = token
        self.orders = 0
        self.served: list[tuple[str, int]] = []
        self.keys: list[bytes] = []

    def __call__(self, settings: Settings, account_key_pem: bytes) -> ScriptedCa:
        self.keys.append(account_key_pem)
        return self

    def register(self, email: str | None) -> str:
        return "https://ca.test/acct/1"

    def new_order(self, hostname: str, csr_pem: bytes) -> Any:
        self.orders += 1
        if self.refusals:
            raise self.refusals.pop(0)
        return {"hostname": hostname}

    def http01_challenges(self, order: Any) -> list[protocol.Http01Challenge]:
        return [protocol.Http01Challenge(order["hostname"], self.token, f"{self.token}.thumb", None, None)]  # type: ignore[arg-type]

    def answer(self, challenge: protocol.Http01Challenge) -> None:
        """What the CA's validation would fetch, at the moment it is told to."""
        path = self.webroot / ".well-known" / "acme-challenge" / challenge.token
        self.served.append((path.read_text(), stat.S_IMODE(path.stat().st_mode)))

    def finalize(self, order: Any, timeout: float) -> str:
        certificate, _key = self_signed_pem([order["hostname"]], days=90)
        intermediate, _ = self_signed_pem(["intermediate.ca.test"])
        return (certificate + intermediate).decode()

    def close(self) -> None:
        pass


class RecordingInstaller:
    def __init__(self) -> None:
        self.installed: list[dict[str, Any]] = []

    async def install(self, owner: Any, hostname: str, **values: Any) -> None:
        self.installed.append({"owner": owner.id, "hostname": hostname, **values})


class Sleeps:
    def __init__(self) -> None:
        self.waited: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)


def rate_limited(retry_after: float | None) -> protocol.AcmeProblem:
    problem = {"type": RATE_LIMITED, "detail": "too many new orders recently"}
    return protocol.AcmeProblem(problem, retry_after=retry_after)


async def add_domain(runtime: Runtime, owner: Account, name: str) -> None:
    async with runtime.writing() as db:
        db.add(Domain(user_id=owner.user.id, name=name, docroot=f"/srv/{name}"))


def service_with(runtime: Runtime, ca: ScriptedCa) -> tuple[AcmeService, RecordingInstaller, Sleeps]:
    installer, sleeps = RecordingInstaller(), Sleeps()
    return AcmeService(runtime, certificates=installer, client_factory=ca, sleep=sleeps), installer, sleeps


async def run_order(service: AcmeService, owner: Account, hostname: str) -> JobView:
    job = await service.order(owner.user, hostname)
    return await JobService(service.runtime).wait(job.id, timeout=10)


async def test_an_order_publishes_the_answer_while_it_is_validated_installs_and_cleans_up(
    runtime: Runtime, alice: Account
) -> None:
    await add_domain(runtime, alice, "shop.test")
    ca = ScriptedCa(runtime.settings.resolved_acme_webroot)
    service, installer, _ = service_with(runtime, ca)
    job = await run_order(service, alice, "SHOP.test.")
    assert job.status == "succeeded", job.error
    assert ca.served == [(f"{TOKEN}.thumb", 0o644)]  # readable by nginx's workers while the CA looks
    assert not (runtime.settings.resolved_acme_webroot / ".well-known" / "acme-challenge" / TOKEN).exists()
    [install] = installer.installed
    assert install["hostname"] == "shop.test"
    assert install["source"] == "acme"
    leaf = x509.load_pem_x509_certificate(install["certificate_pem"].encode())
    assert install["certificate_pem"].count("BEGIN CERTIFICATE") == 1
    assert install["chain_pem"].count("BEGIN CERTIFICATE") == 1
    assert "PRIVATE KEY" in install["private_key_pem"]
    assert job.result["serial"] == format(leaf.serial_number, "x")
    assert job.result["account_url"] == "https://ca.test/acct/1"
    assert (job.progress_done, job.progress_total) == (6, 6)


async def test_the_account_key_is_made_once_and_kept_sealed(runtime: Runtime, alice: Account) -> None:
    await add_domain(runtime, alice, "one.test")
    await add_domain(runtime, alice, "two.test")
    ca = ScriptedCa(runtime.settings.resolved_acme_webroot)
    service, _, _ = service_with(runtime, ca)
    assert (await run_order(service, alice, "one.test")).status == "succeeded"
    assert (await run_order(service, alice, "two.test")).status == "succeeded"
    assert len(ca.keys) == 2
    assert ca.keys[0] == ca.keys[1]
    async with runtime.reading() as db:
        [account] = list(await db.scalars(select(AcmeAccount)))
    assert account.account_url == "https://ca.test/acct/1"
    assert ca.keys[0] not in account.key_sealed


async def test_a_rate_limit_is_waited_out_for_its_retry_after_and_recorded(runtime: Runtime, alice: Account) -> None:
    await add_domain(runtime, alice, "shop.test")
    ca = ScriptedCa(runtime.settings.resolved_acme_webroot, [rate_limited(7)])
    service, installer, sleeps = service_with(runtime, ca)
    job = await run_order(service, alice, "shop.test")
    assert job.status == "succeeded", job.error
    assert ca.orders == 2
    assert len(sleeps.waited) == 1
    assert 5 < sleeps.waited[0] <= 7
    async with runtime.reading() as db:
        account = await db.scalar(select(AcmeAccount))
    assert account is not None
    assert account.rate_limited_until is not None
    assert account.rate_limit_detail == "too many new orders recently"
    assert len(installer.installed) == 1


async def test_a_rate_limit_without_retry_after_backs_off_and_retries_are_bounded(
    settings_factory: Callable[..., Settings], alice: Account
) -> None:
    runtime = build_runtime(settings_factory(acme_rate_limit_retries=2, acme_rate_limit_max_wait=600))
    try:
        await add_domain(runtime, alice, "shop.test")
        ca = ScriptedCa(runtime.settings.resolved_acme_webroot, [rate_limited(None) for _ in range(5)])
        service, installer, sleeps = service_with(runtime, ca)
        job = await run_order(service, alice, "shop.test")
    finally:
        await runtime.close()
    assert job.status == "failed"
    assert ca.orders == 3  # the first try and two retries
    assert len(sleeps.waited) == 2
    assert sleeps.waited[1] > sleeps.waited[0]  # backing off
    assert job.error is not None
    assert job.error["code"] == "acme_rate_limited"
    assert job.error["status"] == 429
    assert installer.installed == []


async def test_a_rate_limit_beyond_the_bound_fails_at_once_and_holds_off_new_orders(
    runtime: Runtime, alice: Account
) -> None:
    await add_domain(runtime, alice, "shop.test")
    ca = ScriptedCa(runtime.settings.resolved_acme_webroot, [rate_limited(4000)])
    service, _, sleeps = service_with(runtime, ca)
    job = await run_order(service, alice, "shop.test")
    assert job.status == "failed"
    assert sleeps.waited == []
    assert job.error is not None
    assert job.error["code"] == "acme_rate_limited"
    assert job.error["retry_after"] == 4000
    assert job.error["ca_problem"] == {"type": RATE_LIMITED, "detail": "too many new orders recently"}
    with pytest.raises(AcmeRateLimited) as refused:
        await service.order(alice.user, "shop.test")
    assert 3990 < refused.value.retry_after <= 4000
    assert ca.orders == 1  # nothing more was sent to the CA


async def test_the_cas_problem_document_reaches_the_job_error(runtime: Runtime, alice: Account) -> None:
    await add_domain(runtime, alice, "shop.test")
    document = {
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": 'Error creating new order :: Cannot issue for "shop.test": policy forbids it',
        "subproblems": [
            {
                "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                "detail": "policy forbids it",
                "identifier": {"type": "dns", "value": "shop.test"},
            }
        ],
    }
    ca = ScriptedCa(runtime.settings.resolved_acme_webroot, [protocol.AcmeProblem(document)])
    service, installer, _ = service_with(runtime, ca)
    job = await run_order(service, alice, "shop.test")
    assert job.status == "failed"
    assert job.error is not None
    assert job.error["code"] == "acme_refused"
    assert job.error["ca_problem"] == document
    assert "policy forbids it" in job.error["detail"]
    assert installer.installed == []


async def test_a_token_that_could_escape_the_webroot_is_refused_before_any_file_is_written(
    runtime: Runtime, alice: Account, tmp_path: Path
) -> None:
    await add_domain(runtime, alice, "shop.test")
    ca = ScriptedCa(runtime.settings.resolved_acme_webroot, token="../../../../escaped-file-aaaa")
    service, installer, _ = service_with(runtime, ca)
    job = await run_order(service, alice, "shop.test")
    assert job.status == "failed"
    assert job.error is not None
    assert job.error["code"] == "acme_unavailable"
    assert ca.served == []
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("escaped-file-aaaa")))
    assert installer.installed == []


async def test_an_order_for_a_name_the_user_does_not_have_is_not_found(
    runtime: Runtime, alice: Account, make_account: Any
) -> None:
    bob = await make_account("bob")
    await add_domain(runtime, bob, "bobs.test")
    service, _, _ = service_with(runtime, ScriptedCa(runtime.settings.resolved_acme_webroot))
    for name in ("bobs.test", "nowhere.test", "", "x" * 300):
        with pytest.raises(NotFound):
            await service.order(alice.user, name)
    assert (await JobService(runtime).list(alice.user.id)).total == 0


async def test_a_second_order_for_the_same_name_waits_for_the_first(
    settings_factory: Callable[..., Settings], alice: Account
) -> None:
    runtime = build_runtime(settings_factory(jobs_concurrency=1))
    try:
        await add_domain(runtime, alice, "shop.test")
        await add_domain(runtime, alice, "blocker.test")
        service, _, _ = service_with(runtime, ScriptedCa(runtime.settings.resolved_acme_webroot))
        first = await service.order(alice.user, "shop.test")
        with pytest.raises(Conflict):
            await service.order(alice.user, "shop.test")
        assert (await JobService(runtime).wait(first.id, timeout=10)).status == "succeeded"
        again = await service.order(alice.user, "shop.test")
        assert (await JobService(runtime).wait(again.id, timeout=10)).status == "succeeded"
    finally:
        await runtime.close()


async def add_certificate(runtime: Runtime, owner: Account, name: str, source: str, days_left: float) -> None:
    now = dt.datetime.now(dt.UTC)
    async with runtime.writing() as db:
        domain = Domain(user_id=owner.user.id, name=name, docroot=f"/srv/{name}")
        db.add(domain)
        await db.flush()
        db.add(
            TlsCertificate(
                domain_id=domain.id,
                hostname=name,
                source=source,
                certificate_pem="-",
                chain_pem="",
                private_key_sealed=b"-",
                issuer="CN=Test",
                not_before=now - dt.timedelta(days=60),
                not_after=now + dt.timedelta(days=days_left),
                fingerprint="0" * 64,
                files_id="0" * 40,
            )
        )


async def test_renewal_orders_the_acme_certificates_with_less_than_30_days_left(
    runtime: Runtime, alice: Account
) -> None:
    await add_certificate(runtime, alice, "due.test", "acme", 12)
    await add_certificate(runtime, alice, "fresh.test", "acme", 60)
    await add_certificate(runtime, alice, "uploaded.test", "upload", 3)
    ca = ScriptedCa(runtime.settings.resolved_acme_webroot)
    service, installer, _ = service_with(runtime, ca)
    jobs = await service.renew_due()
    assert [job.title for job in jobs] == ["Renew the certificate of due.test"]
    assert (await JobService(runtime).wait(jobs[0].id, timeout=10)).status == "succeeded"
    assert [item["hostname"] for item in installer.installed] == ["due.test"]


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert protocol.retry_after_seconds("120") == 120
    assert protocol.retry_after_seconds("Thu, 01 Jan 2026 12:05:00 GMT", now=now) == 300
    assert protocol.retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0
    assert protocol.retry_after_seconds("soon") is None
    assert protocol.retry_after_seconds(None) is None


@pytest.mark.parametrize("token", ["../x" * 8, "a/b" * 8, "short", "with space and more chars", "a" * 300, ""])
def test_a_challenge_file_name_is_base64url_only(token: str, tmp_path: Path) -> None:
    with pytest.raises(protocol.AcmeUnavailable):
        protocol.challenge_file(tmp_path, token)
    assert protocol.challenge_file(tmp_path, TOKEN) == tmp_path / ".well-known" / "acme-challenge" / TOKEN


def test_a_full_chain_splits_into_the_leaf_and_its_intermediates() -> None:
    leaf, _ = self_signed_pem(["leaf.test"])
    middle, _ = self_signed_pem(["middle.test"])
    top, _ = self_signed_pem(["top.test"])
    certificate, chain = split_chain((leaf + middle + top).decode())
    assert certificate == leaf.decode()
    assert chain == (middle + top).decode()


def test_new_keys_are_ec_p256() -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    for pem in (protocol.new_account_key_pem(), protocol.new_certificate_key_pem()):
        key = load_pem_private_key(pem, password=None)
        assert key.key_size == 256  # type: ignore[union-attr]
