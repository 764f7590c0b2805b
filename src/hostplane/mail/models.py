"""Mail domains, mailboxes and aliases: the truth the Postfix and Dovecot lookup tables are made from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hostplane.db import TREE_KEY_TYPE, Base, UTCDateTime, tree_key_default, utcnow


class MailDomain(Base):
    __tablename__ = "mail_domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    """The owner; every other user gets a 404 for this domain and everything under it."""
    name: Mapped[str] = mapped_column(String(253), unique=True)
    """ASCII (IDNA) form, lowercase, no trailing dot."""
    tree_key: Mapped[str] = mapped_column(TREE_KEY_TYPE, index=True, default=tree_key_default)
    """`name` with its labels reversed (hostplane.db.tree_key), set at insert: finds the names below a name
    (hostplane.names)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mailbox(Base):
    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("domain_id", "local_part"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("mail_domains.id", ondelete="CASCADE"), index=True)
    local_part: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    """argon2id (PHC string); Dovecot verifies the same string as {ARGON2ID}."""
    quota_mb: Mapped[int] = mapped_column(Integer, default=0)
    """0 = unlimited."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MailAlias(Base):
    """Mail to local_part@domain is delivered to destination (a mailbox or any address)."""

    __tablename__ = "mail_aliases"
    __table_args__ = (UniqueConstraint("domain_id", "local_part", "destination"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("mail_domains.id", ondelete="CASCADE"), index=True)
    local_part: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DkimKey(Base):
    """The DKIM signing key of one mail domain (RSA-2048). The private key is sealed with the key file
    (AES-256-GCM, context "dkim:<domain>:<selector>"); only the signer's key file holds it in clear."""

    __tablename__ = "mail_dkim_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mail_domain_id: Mapped[int] = mapped_column(ForeignKey("mail_domains.id", ondelete="CASCADE"), unique=True)
    selector: Mapped[str] = mapped_column(String(63))
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary(4096))
    """PKCS#8 PEM, sealed."""
    public_key: Mapped[str] = mapped_column(String(1024))
    """The p= value of the TXT record: base64 of the SubjectPublicKeyInfo DER."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
