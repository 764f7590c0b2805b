"""Certificates of the websites: install (upload or ACME), read, days left, remove.

An install is one `Websites.change()` unit, like a domain change: the input is validated completely first
(nothing is written for a bad one), then the row and the chain and key files are written (the key decrypted only
for that), nginx is checked and reloaded with TLS on that vhost, and only then is the row committed. If nginx
refuses, the row is rolled back, the new files are removed, and the previous certificate stays live.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import math
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import validation
from hostplane.auth.models import User
from hostplane.dbutil import owned
from hostplane.domains.models import Domain
from hostplane.domains.service import DomainService
from hostplane.domains.websites import Websites
from hostplane.errors import InvalidInput, NotFound
from hostplane.runtime import Runtime
from hostplane.tls import validate
from hostplane.tls.models import SOURCE_ACME, TlsCertificate, key_context

Source = Literal["upload", "acme"]


@dataclass(frozen=True)
class CertificateInfo:
    domain_id: int
    hostname: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    days_left: int
    source: str
    sans: tuple[str, ...]
    fingerprint_sha256: str
    created_at: dt.datetime
    updated_at: dt.datetime


def days_until(moment: dt.datetime, now: dt.datetime | None = None) -> int:
    """Whole days left (rounded down); negative once expired."""
    now = now or dt.datetime.now(dt.UTC)
    return math.floor((moment - now).total_seconds() / 86400)


def _info(row: TlsCertificate) -> CertificateInfo:
    sans = validate.stored_dns_names(row.certificate_pem)
    return CertificateInfo(
        domain_id=row.domain_id,
        hostname=row.hostname,
        issuer=row.issuer,
        not_before=row.not_before,
        not_after=row.not_after,
        days_left=days_until(row.not_after),
        source=row.source,
        sans=sans,
        fingerprint_sha256=row.fingerprint,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _hostname(value: str) -> str:
    name = validation.domain_to_look_up(value)
    if name is None:
        raise NotFound("No such domain.")
    return name


class CertificateService:
    def __init__(self, runtime: Runtime, websites: Websites | None = None) -> None:
        self.runtime = runtime
        self.websites = websites or Websites(runtime)
        self.domains = DomainService(runtime, self.websites)

    # - lookups -

    @staticmethod
    async def _domain(db: AsyncSession, owner: User, hostname: str) -> Domain:
        """The owner's domain or subdomain of that name, or 404 (also when another user has it)."""
        return await owned(
            db, select(Domain).where(Domain.name == _hostname(hostname), Domain.user_id == owner.id), "domain"
        )

    async def hostname_of(self, owner: User, domain_id: int) -> str:
        """The name of one of the owner's domains by id (404 otherwise): for the routes."""
        return (await self.domains.get(owner, domain_id)).name

    async def _row(self, owner: User, hostname: str) -> TlsCertificate:
        async with self.runtime.reading() as db:
            domain = await self._domain(db, owner, hostname)
            row = await db.scalar(select(TlsCertificate).where(TlsCertificate.domain_id == domain.id))
            if row is None:
                raise NotFound("This domain has no certificate.")
            return row

    # - reads -

    async def info(self, owner: User, hostname: str) -> CertificateInfo:
        return _info(await self._row(owner, hostname))

    async def days_left(self, owner: User, hostname: str) -> int:
        return days_until((await self._row(owner, hostname)).not_after)

    async def due_for_renewal(self, within_days: int = 30) -> list[tuple[int, str]]:
        """(user id, hostname) of the ACME certificates expiring within that many days, soonest first."""
        limit = dt.datetime.now(dt.UTC) + dt.timedelta(days=within_days)
        async with self.runtime.reading() as db:
            rows = await db.execute(
                select(Domain.user_id, Domain.name)
                .join(TlsCertificate, TlsCertificate.domain_id == Domain.id)
                .where(TlsCertificate.source == SOURCE_ACME, TlsCertificate.not_after < limit)
                .order_by(TlsCertificate.not_after, Domain.name)
            )
            return [(user_id, name) for user_id, name in rows]

    # - writes -

    async def install(
        self,
        owner: User,
        hostname: str,
        *,
        certificate_pem: str,
        private_key_pem: str,
        chain_pem: str = "",
        source: Source,
    ) -> CertificateInfo:
        """Validate, store (key sealed), write the files and serve the certificate on the site's vhost."""
        if source not in ("upload", "acme"):
            raise InvalidInput.on("source", "The source must be upload or acme.")
        async with self.runtime.reading() as db:
            name = (await self._domain(db, owner, hostname)).name
        valid = await asyncio.to_thread(validate.check, name, certificate_pem, private_key_pem, chain_pem)
        async with self.websites.change() as change:
            domain = await self._domain(change.db, owner, name)
            row = await change.db.scalar(select(TlsCertificate).where(TlsCertificate.domain_id == domain.id))
            if row is None:
                row = TlsCertificate(domain_id=domain.id)
                change.db.add(row)
            row.hostname = domain.name
            row.source = source
            row.certificate_pem = valid.certificate_pem
            row.chain_pem = valid.chain_pem
            row.private_key_sealed = self.runtime.keyring.seal(valid.private_key_pem, key_context(domain.id))
            row.issuer = valid.issuer
            row.not_before = valid.not_before
            row.not_after = valid.not_after
            row.fingerprint = valid.fingerprint
            row.files_id = valid.files_id
            row.updated_at = dt.datetime.now(dt.UTC)
            driver = self.websites.driver
            if await asyncio.to_thread(
                driver.write_tls_files, valid.files_id, valid.fullchain_pem.encode(), valid.private_key_pem
            ):
                change.on_rollback(functools.partial(driver.remove_tls_files, valid.files_id))
            await change.db.flush()
            info = _info(row)
        return info

    async def remove(self, owner: User, hostname: str) -> None:
        """Remove the certificate: the site answers on HTTP only when this returns."""
        async with self.websites.change() as change:
            domain = await self._domain(change.db, owner, hostname)
            row = await change.db.scalar(select(TlsCertificate).where(TlsCertificate.domain_id == domain.id))
            if row is None:
                raise NotFound("This domain has no certificate.")
            await change.db.delete(row)
