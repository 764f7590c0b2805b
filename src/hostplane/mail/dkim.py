"""DKIM per mail domain: an RSA-2048 key pair, sealed in the database, installed for the signer (OpenDKIM), and
the DNS records the owner publishes (the DKIM TXT record, with SPF and DMARC suggestions).

The database is the truth: the signer's key file is written inside the unit of work that inserts the row and
removed again if that unit fails; `reapply()` rewrites every key file from the database.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import validation
from hostplane.auth.principal import Principal
from hostplane.errors import Conflict, InvalidInput, NotFound
from hostplane.mail.models import DkimKey, MailDomain
from hostplane.runtime import Runtime
from hostplane.settings import Settings

log = logging.getLogger("hostplane.mail.dkim")

KEY_BITS = 2048
SELECTOR = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TXT_STRING_MAX = 255
"""One character-string in a TXT record holds at most 255 bytes; longer values are split into several strings,
which resolvers join back without separators (RFC 7208 3.3, RFC 6376 3.6.2.2)."""


def selector(value: str, field_name: str = "selector") -> str:
    """Strict: 1 to 63 lowercase letters, digits and '-', starting with a letter or digit (a DNS label that is
    also a safe file name and OpenDKIM table field)."""
    validation.reject_control_chars(field_name, value)
    if not SELECTOR.match(value):
        raise InvalidInput.on(
            field_name,
            "A selector is 1 to 63 lowercase letters, digits and '-', starting with a letter or digit.",
            "regex",
        )
    return value


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    """PKCS#8 PEM, unencrypted: what the signer reads. Never stored in clear."""
    public_b64: str
    """base64 of the DER SubjectPublicKeyInfo: the p= tag."""


def generate_key_pair(bits: int = KEY_BITS) -> KeyPair:
    """CPU-bound (tens to hundreds of milliseconds): call it in a thread."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return KeyPair(
        private_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        public_b64=public_value(key.public_key()),
    )


def public_value(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def dkim_txt_value(public_b64: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_b64}"


def txt_strings(value: str, size: int = TXT_STRING_MAX) -> list[str]:
    """The value as DNS character-strings of at most `size` bytes (ASCII here), in order."""
    return [value[start : start + size] for start in range(0, len(value), size)] or [""]


def zone_text(strings: list[str]) -> str:
    """The strings as a zone file writes them: `( "..." "..." )` when there are several."""
    quoted = " ".join(f'"{part}"' for part in strings)
    return f"( {quoted} )" if len(strings) > 1 else quoted


def spf_value(settings: Settings) -> str:
    address = settings.dkim_spf_address
    if address is None:
        return "v=spf1 mx -all"
    return f"v=spf1 mx ip{address.version}:{address} -all"


def dmarc_value(settings: Settings) -> str:
    value = "v=DMARC1; p=quarantine; adkim=s; aspf=r; pct=100"
    if settings.dkim_dmarc_report_address:
        value += f"; rua=mailto:{settings.dkim_dmarc_report_address}"
    return value


@dataclass(frozen=True)
class TxtRecord:
    name: str
    value: str
    """The joined value, as resolvers return it."""

    @property
    def strings(self) -> list[str]:
        """The value split in character-strings of at most 255 bytes, for DNS servers and zone files."""
        return txt_strings(self.value)

    @property
    def zone(self) -> str:
        return f"{self.name}. IN TXT {zone_text(self.strings)}"


@dataclass(frozen=True)
class DkimRecord:
    mail_domain_id: int
    domain: str
    selector: str
    public_key: str
    created_at: dt.datetime
    spf: str
    """Suggested TXT value at the domain itself."""
    dmarc: str
    """Suggested TXT value at _dmarc.<domain>."""
    created: bool = False
    """Whether the call that returned this record generated the key."""

    @property
    def txt_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def txt_value(self) -> str:
        return dkim_txt_value(self.public_key)

    @property
    def dkim(self) -> TxtRecord:
        return TxtRecord(self.txt_name, self.txt_value)

    @property
    def spf_record(self) -> TxtRecord:
        return TxtRecord(self.domain, self.spf)

    @property
    def dmarc_name(self) -> str:
        return f"_dmarc.{self.domain}"

    @property
    def dmarc_record(self) -> TxtRecord:
        return TxtRecord(self.dmarc_name, self.dmarc)


class DkimService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.signer = runtime.drivers.dkim

    def _record(self, domain: MailDomain, key: DkimKey, *, created: bool = False) -> DkimRecord:
        return DkimRecord(
            mail_domain_id=domain.id,
            domain=domain.name,
            selector=key.selector,
            public_key=key.public_key,
            created_at=key.created_at,
            spf=spf_value(self.rt.settings),
            dmarc=dmarc_value(self.rt.settings),
            created=created,
        )

    def _existing(self, domain: MailDomain, key: DkimKey, wanted_selector: str) -> DkimRecord:
        if key.selector != wanted_selector:
            raise Conflict(f"This mail domain already has a DKIM key, with the selector {key.selector!r}.")
        return self._record(domain, key)

    @staticmethod
    async def _domain(db: AsyncSession, principal: Principal, mail_domain_id: int) -> MailDomain:
        domain = await db.get(MailDomain, mail_domain_id)
        if domain is None or domain.user_id != principal.user.id:
            raise NotFound("No such mail domain.")
        return domain

    @staticmethod
    async def _key(db: AsyncSession, mail_domain_id: int) -> DkimKey | None:
        key: DkimKey | None = await db.scalar(select(DkimKey).where(DkimKey.mail_domain_id == mail_domain_id))
        return key

    @staticmethod
    def _context(domain: str, key_selector: str) -> str:
        return f"dkim:{domain}:{key_selector}"

    async def get(self, principal: Principal, mail_domain_id: int) -> DkimRecord:
        async with self.rt.reading() as db:
            domain = await self._domain(db, principal, mail_domain_id)
            key = await self._key(db, domain.id)
            if key is None:
                raise NotFound("This mail domain has no DKIM key yet.")
            return self._record(domain, key)

    async def ensure(self, principal: Principal, mail_domain_id: int, key_selector: str | None = None) -> DkimRecord:
        """The domain's key: generated (RSA-2048, in a thread), sealed, stored and installed for the signer
        when missing; the existing one otherwise (`created` tells which). A selector other than the existing
        key's is a conflict (one key per domain)."""
        key_selector = self.rt.settings.dkim_selector if key_selector is None else selector(key_selector)
        async with self.rt.reading() as db:
            domain = await self._domain(db, principal, mail_domain_id)
            key = await self._key(db, domain.id)
            if key is not None:
                return self._existing(domain, key, key_selector)
        pair = await asyncio.to_thread(generate_key_pair)
        installed: str | None = None
        try:
            async with self.rt.writing() as db:
                domain = await self._domain(db, principal, mail_domain_id)
                existing = await self._key(db, domain.id)
                if existing is not None:  # another call made it meanwhile
                    return self._existing(domain, existing, key_selector)
                key = DkimKey(
                    mail_domain_id=domain.id,
                    selector=key_selector,
                    private_key_sealed=self.rt.keyring.seal(pair.private_pem, self._context(domain.name, key_selector)),
                    public_key=pair.public_b64,
                )
                db.add(key)
                await db.flush()
                installed = domain.name
                await asyncio.to_thread(self.signer.put_key, domain.name, key_selector, pair.private_pem)
        except BaseException as exc:
            if installed is not None:
                # Our key was never committed. Synchronous: it must finish even when the task is being cancelled.
                try:
                    self.signer.remove_key(installed)
                except Exception:
                    log.exception("could not remove the DKIM key of %s; run `hostplane reconcile`", installed)
            if not isinstance(exc, IntegrityError):
                raise
            return await self._winner(principal, mail_domain_id, reinstall=installed is not None)
        return self._record(domain, key, created=True)

    async def _winner(self, principal: Principal, mail_domain_id: int, *, reinstall: bool) -> DkimRecord:
        """After losing a race on the unique mail_domain_id: the key the other call stored."""
        async with self.rt.reading() as db:
            domain = await self._domain(db, principal, mail_domain_id)
            winner = await self._key(db, domain.id)
            if winner is None:
                raise NotFound("No such mail domain.")
            record = self._record(domain, winner)
            sealed, name = winner.private_key_sealed, domain.name
        if reinstall:
            pem = self.rt.keyring.open(sealed, self._context(name, record.selector))
            await asyncio.to_thread(self.signer.put_key, name, record.selector, pem)
        return record

    async def forget(self, domain_name: str) -> None:
        """The signer stops signing for a deleted mail domain (its row went with the domain: ON DELETE
        CASCADE). Never raises: `hostplane reconcile` removes a key file left behind."""
        try:
            await asyncio.to_thread(self.signer.remove_key, domain_name)
        except Exception:
            log.exception("could not remove the DKIM key of %s; run `hostplane reconcile`", domain_name)

    async def reapply(self) -> list[str]:
        """Rewrite the signer's key files and tables from the database; returns the drift found."""
        wanted: dict[tuple[str, str], bytes] = {}
        async with self.rt.reading() as db:
            rows = await db.execute(
                select(DkimKey, MailDomain).join(MailDomain, MailDomain.id == DkimKey.mail_domain_id)
            )
            for key, domain in rows.all():
                pem = self.rt.keyring.open(key.private_key_sealed, self._context(domain.name, key.selector))
                wanted[(domain.name, key.selector)] = pem
        return await asyncio.to_thread(self.signer.sync_keys, wanted)
