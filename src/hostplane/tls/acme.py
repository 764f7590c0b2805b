"""Certificates from an ACME CA (Let's Encrypt by default), validated over HTTP-01 through our own nginx.

An order is a job (`tls.acme`): account, order, challenge, validation and issuance, installation. The account
key of each CA directory is made once and kept sealed in `acme_accounts`. The HTTP-01 answers are written under
`<acme_webroot>/.well-known/acme-challenge/`, which every vhost serves, and removed when the job ends. What the CA
refuses reaches the job's error with the CA's own problem document (`ca_problem`: type, detail, subproblems).
`rateLimited` is waited out (its Retry-After, up to `acme_rate_limit_max_wait`, `acme_rate_limit_retries` times)
and recorded on the account, so that no order is sent to that CA again before the time it gave.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hostplane import validation
from hostplane.auth.models import User
from hostplane.domains.models import Domain
from hostplane.errors import Conflict, NotFound, ServiceFailed, TooManyAttempts
from hostplane.jobs.models import UNFINISHED, Job
from hostplane.jobs.service import JobContext, JobService, JobView
from hostplane.runtime import Runtime
from hostplane.system import acme as protocol
from hostplane.system.interfaces import AcmeClientFactory, AcmeProtocol
from hostplane.tls.acme_models import AcmeAccount
from hostplane.tls.service import CertificateService

log = logging.getLogger("hostplane.tls.acme")
JOB_KIND = "tls.acme"
STEPS = 6
DEFAULT_BACKOFF = 30.0
"""Seconds to wait after a `rateLimited` that gave no Retry-After (doubled on each retry, within the bound)."""
SOURCE_ACME = "acme"


class AcmeRefused(ServiceFailed):
    """The certificate authority refused the order; its problem document is in `ca_problem`."""

    code = "acme_refused"
    title = "Certificate authority refused"

    def __init__(self, detail: str, *, ca_problem: dict[str, Any]) -> None:
        super().__init__(detail)
        self.ca_problem = ca_problem

    @property
    def problem_extra(self) -> dict[str, Any]:
        return {"ca_problem": self.ca_problem}


class AcmeUnreachable(ServiceFailed):
    """The certificate authority could not be reached, or gave an unusable answer."""

    code = "acme_unavailable"
    title = "Certificate authority unavailable"


class AcmeRateLimited(TooManyAttempts):
    """The certificate authority rate-limits us: nothing is sent to it before `retry_after` seconds."""

    code = "acme_rate_limited"
    title = "Certificate authority rate limit"

    def __init__(self, detail: str, *, retry_after: int, ca_problem: dict[str, Any] | None = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.ca_problem = ca_problem or {}

    @property
    def problem_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"retry_after": self.retry_after}
        if self.ca_problem:
            extra["ca_problem"] = self.ca_problem
        return extra


class Installer(Protocol):
    async def install(
        self,
        owner: User,
        hostname: str,
        *,
        certificate_pem: str,
        private_key_pem: str,
        chain_pem: str = "",
        source: Any,
    ) -> Any: ...


@dataclass(frozen=True)
class Account:
    id: int
    key_pem: bytes
    account_url: str
    rate_limited_until: dt.datetime | None
    rate_limit_detail: str


def account_key_context(directory_url: str) -> str:
    return f"acme-account:{directory_url}"


def split_chain(fullchain_pem: str) -> tuple[str, str]:
    """(leaf, intermediates) of a PEM full chain as the CA sends it (leaf first)."""
    marker = "-----END CERTIFICATE-----"
    blocks = [block.strip() + "\n" + marker + "\n" for block in fullchain_pem.split(marker) if block.strip()]
    if not blocks:
        raise AcmeUnreachable("The certificate authority returned no certificate.")
    return blocks[0], "".join(blocks[1:])


def order_title(hostname: str, *, renewal: bool = False) -> str:
    return f"{'Renew' if renewal else 'Issue'} the certificate of {hostname}"


class AcmeService:
    def __init__(
        self,
        runtime: Runtime,
        *,
        certificates: Installer | None = None,
        client_factory: AcmeClientFactory | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.jobs = JobService(runtime)
        self._certificates = certificates
        self.client_factory = client_factory or runtime.drivers.acme
        self.sleep = sleep

    @property
    def certificates(self) -> Installer:
        if self._certificates is None:
            self._certificates = CertificateService(self.runtime)
        return self._certificates

    # - orders -

    async def order(self, owner: User, hostname: str, *, renewal: bool = False) -> JobView:
        """Start a job that gets a certificate for one of the owner's domains and installs it (404 for a name the
        owner does not have; 409 while an order for it runs; 429 while the CA's rate limit lasts)."""
        name = await self._owned_name(owner, hostname)
        await self._refuse_while_rate_limited()
        titles = [order_title(name), order_title(name, renewal=True)]
        async with self.runtime.reading() as db:
            running = await db.scalar(
                select(Job.id).where(
                    Job.user_id == owner.id, Job.kind == JOB_KIND, Job.title.in_(titles), Job.status.in_(UNFINISHED)
                )
            )
        if running is not None:
            raise Conflict(f"An order for this certificate is already running (job {running}).")

        async def work(context: JobContext) -> dict[str, Any]:
            return await self._issue(context, owner, name)

        return await self.jobs.submit(owner.id, JOB_KIND, order_title(name, renewal=renewal), work)

    async def renew_due(self) -> list[JobView]:
        """Order again every ACME certificate with fewer than `acme_renew_before_days` days left."""

        due = await CertificateService(self.runtime).due_for_renewal(self.settings.acme_renew_before_days)
        started: list[JobView] = []
        for user_id, hostname in due:
            async with self.runtime.reading() as db:
                owner = await db.get(User, user_id)
            if owner is None or owner.disabled:
                continue
            try:
                started.append(await self.order(owner, hostname, renewal=True))
            except (Conflict, NotFound) as exc:
                log.info("renewal of %s skipped: %s", hostname, exc.detail)
            except TooManyAttempts as exc:
                log.warning("renewals paused by the certificate authority's rate limit: %s", exc.detail)
                break
        return started

    async def _owned_name(self, owner: User, hostname: str) -> str:
        name = validation.domain_to_look_up(hostname)
        if name is None:
            raise NotFound("No such domain.")
        async with self.runtime.reading() as db:
            found = await db.scalar(select(Domain.name).where(Domain.name == name, Domain.user_id == owner.id))
        if found is None:
            raise NotFound("No such domain.")
        return found

    # - the job -

    async def _issue(self, context: JobContext, owner: User, hostname: str) -> dict[str, Any]:
        await context.step(0, STEPS, "Preparing the ACME account")
        account = await self.account()
        client = self.client_factory(self.settings, account.key_pem)
        try:
            backoff = DEFAULT_BACKOFF
            attempt = 0
            while True:
                await self._wait_out_rate_limit(context)
                try:
                    fullchain, key_pem, account_url = await self._run_protocol(context, client, account, hostname)
                    break
                except protocol.AcmeProblem as exc:
                    if not exc.rate_limited:
                        raise _refused(exc) from exc
                    wait = exc.retry_after if exc.retry_after is not None else backoff
                    backoff = min(backoff * 2, max(self.settings.acme_rate_limit_max_wait, DEFAULT_BACKOFF))
                    await self._record_rate_limit(wait, exc.detail)
                    if (
                        attempt >= self.settings.acme_rate_limit_retries
                        or wait > self.settings.acme_rate_limit_max_wait
                    ):
                        raise AcmeRateLimited(
                            f"The certificate authority rate-limits this panel: {exc.detail or 'try again later'}",
                            retry_after=math.ceil(wait),
                            ca_problem=exc.problem,
                        ) from exc
                    attempt += 1
                except protocol.AcmeUnavailable as exc:
                    raise AcmeUnreachable(f"The certificate could not be obtained: {exc}.") from exc
        finally:
            await asyncio.to_thread(client.close)

        await context.step(5, STEPS, "Installing the certificate")
        leaf, chain = split_chain(fullchain)
        await self.certificates.install(
            owner, hostname, certificate_pem=leaf, private_key_pem=key_pem.decode(), chain_pem=chain, source=SOURCE_ACME
        )
        certificate = x509.load_pem_x509_certificate(leaf.encode())
        await context.step(STEPS, STEPS, "Certificate installed")
        return {
            "hostname": hostname,
            "account_url": account_url,
            "issuer": certificate.issuer.rfc4514_string(),
            "not_after": certificate.not_valid_after_utc.isoformat(),
            "serial": format(certificate.serial_number, "x"),
        }

    async def _run_protocol(
        self, context: JobContext, client: AcmeProtocol, account: Account, hostname: str
    ) -> tuple[str, bytes, str]:
        """One pass of the protocol: (full chain PEM, certificate key PEM, account URL)."""
        account_url = await asyncio.to_thread(client.register, self.settings.acme_contact_email)
        if account_url != account.account_url:
            await self._save_account_url(account.id, account_url)
        await context.step(1, STEPS, "Placing the order")
        key_pem = await asyncio.to_thread(protocol.new_certificate_key_pem)
        csr = await asyncio.to_thread(protocol.make_csr, key_pem, [hostname])
        order = await asyncio.to_thread(client.new_order, hostname, csr)
        challenges = await asyncio.to_thread(client.http01_challenges, order)
        written: list[Path] = []
        try:
            await context.step(2, STEPS, "Publishing the HTTP-01 challenge")
            for challenge in challenges:
                written.append(await asyncio.to_thread(self._publish, challenge))
            for challenge in challenges:
                await asyncio.to_thread(client.answer, challenge)
            await context.step(3, STEPS, "Waiting for the certificate authority to validate and issue")
            fullchain = await asyncio.to_thread(client.finalize, order, self.settings.acme_order_timeout)
        finally:
            for path in written:
                with contextlib.suppress(FileNotFoundError):
                    await asyncio.to_thread(path.unlink)
        await context.step(4, STEPS, "Certificate issued")
        return fullchain, key_pem, account_url

    def _publish(self, challenge: protocol.Http01Challenge) -> Path:
        return protocol.publish_challenge(self.settings.resolved_acme_webroot, challenge)

    # - the account -

    async def account(self) -> Account:
        """This directory's account key, made and stored (sealed) on first use."""
        directory = self.settings.acme_directory_url
        context = account_key_context(directory)
        existing = await self._load_account(directory)
        if existing is None:
            key_pem = await asyncio.to_thread(protocol.new_account_key_pem)
            try:
                async with self.runtime.writing() as db:
                    if await db.scalar(select(AcmeAccount.id).where(AcmeAccount.directory_url == directory)) is None:
                        db.add(
                            AcmeAccount(
                                directory_url=directory,
                                contact_email=self.settings.acme_contact_email or "",
                                key_sealed=self.runtime.keyring.seal(key_pem, context),
                            )
                        )
            except IntegrityError:
                pass  # another process made it at the same moment: use theirs
            existing = await self._load_account(directory)
            assert existing is not None
        return existing

    async def _load_account(self, directory: str) -> Account | None:
        async with self.runtime.reading() as db:
            row = await db.scalar(select(AcmeAccount).where(AcmeAccount.directory_url == directory))
        if row is None:
            return None
        key_pem = self.runtime.keyring.open(row.key_sealed, account_key_context(directory))
        return Account(row.id, key_pem, row.account_url, row.rate_limited_until, row.rate_limit_detail)

    async def _save_account_url(self, account_id: int, account_url: str) -> None:
        async with self.runtime.writing() as db:
            row = await db.get(AcmeAccount, account_id)
            if row is not None:
                row.account_url = account_url[:500]

    # - rate limits -

    async def _rate_limit_left(self) -> tuple[float, str]:
        """Seconds until the CA's last rate limit ends (0 if none), and its detail."""
        async with self.runtime.reading() as db:
            row = await db.execute(
                select(AcmeAccount.rate_limited_until, AcmeAccount.rate_limit_detail).where(
                    AcmeAccount.directory_url == self.settings.acme_directory_url
                )
            )
            found = row.first()
        if found is None or found[0] is None:
            return 0.0, ""
        return max(0.0, (found[0] - self.runtime.clock.now()).total_seconds()), found[1]

    async def _refuse_while_rate_limited(self) -> None:
        left, detail = await self._rate_limit_left()
        if left > self.settings.acme_rate_limit_max_wait:
            raise AcmeRateLimited(
                f"The certificate authority rate-limits this panel: {detail or 'try again later'}",
                retry_after=math.ceil(left),
            )

    async def _wait_out_rate_limit(self, context: JobContext) -> None:
        left, detail = await self._rate_limit_left()
        if left <= 0:
            return
        if left > self.settings.acme_rate_limit_max_wait:
            raise AcmeRateLimited(
                f"The certificate authority rate-limits this panel: {detail or 'try again later'}",
                retry_after=math.ceil(left),
            )
        await context.step(0, STEPS, f"Rate-limited by the certificate authority: waiting {math.ceil(left)} s")
        await self.sleep(left)

    async def _record_rate_limit(self, seconds: float, detail: str) -> None:
        log.warning("ACME rate limit from %s for %.0f s: %s", self.settings.acme_directory_url, seconds, detail)
        async with self.runtime.writing() as db:
            row = await db.scalar(
                select(AcmeAccount).where(AcmeAccount.directory_url == self.settings.acme_directory_url)
            )
            if row is not None:
                row.rate_limited_until = self.runtime.clock.now() + dt.timedelta(seconds=seconds)
                row.rate_limit_detail = detail[:1000]


def _refused(exc: protocol.AcmeProblem) -> AcmeRefused:
    return AcmeRefused(
        f"The certificate authority refused: {exc.detail or exc.type}",
        ca_problem=exc.problem,
    )


async def renewal_loop(runtime: Runtime) -> None:
    """Renew due certificates every `acme_renew_interval` seconds, until cancelled (`hostplane serve` runs it)."""
    service = AcmeService(runtime)
    while True:
        try:
            jobs = await service.renew_due()
            if jobs:
                log.info("renewing %d certificate(s): jobs %s", len(jobs), [job.id for job in jobs])
        except Exception:
            log.exception("the renewal round failed")
        await asyncio.sleep(runtime.settings.acme_renew_interval)
