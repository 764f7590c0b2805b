"""Certificates installed on a website: one per domain row (domain or subdomain), uploaded or issued by ACME."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hostplane.db import Base, UTCDateTime, utcnow

SOURCE_UPLOAD = "upload"
SOURCE_ACME = "acme"


class TlsCertificate(Base):
    __tablename__ = "tls_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), unique=True)
    """The website it is installed on; deleting the domain deletes the certificate."""
    hostname: Mapped[str] = mapped_column(String(253))
    """The domain's name when the certificate was installed (the certificate covers it)."""
    source: Mapped[str] = mapped_column(String(16))
    """"upload" or "acme"."""
    certificate_pem: Mapped[str] = mapped_column(Text)
    """The leaf certificate, normalised PEM."""
    chain_pem: Mapped[str] = mapped_column(Text, default="")
    """Intermediates in order (each signed by the next), normalised PEM; may be empty."""
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    """PKCS#8 PEM of the key, sealed with the runtime keyring (context `tls-key:<domain id>`)."""
    issuer: Mapped[str] = mapped_column(String(1024))
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the leaf certificate's DER, lowercase hex."""
    files_id: Mapped[str] = mapped_column(String(64))
    """Names the files nginx reads (<nginx>/tls/<files_id>.crt|.key): a digest of the full chain, so a new
    certificate never overwrites the files a live or previous configuration generation refers to."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def key_context(domain_id: int) -> str:
    """The sealing context binding an encrypted key to its row."""
    return f"tls-key:{domain_id}"
