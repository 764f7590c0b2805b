"""The ACME account of each CA directory this panel has used: one key per directory, made once and kept."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hostplane.db import Base, UTCDateTime, utcnow


class AcmeAccount(Base):
    """The account key is sealed with the runtime keyring (context `acme-account:<directory>`), like every other
    secret at rest: a copy of the database alone does not give the key. In the database rather than a file so that
    every process (serve, CLI) and a PostgreSQL installation share it, and creating it twice at once is one row."""

    __tablename__ = "acme_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    directory_url: Mapped[str] = mapped_column(String(500), unique=True)
    account_url: Mapped[str] = mapped_column(String(500), default="")
    """The account's URL at the CA (the JWS `kid`); empty until registered."""
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    rate_limited_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    """The CA said `rateLimited` with a Retry-After: no new order to it before then."""
    rate_limit_detail: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
