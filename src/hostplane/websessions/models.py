"""Browser sessions of the cPanel-style services (cookie + `/cpsess##########` token) and one-time login tickets."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hostplane.db import Base, UTCDateTime, utcnow


class ServiceLoginColumns:
    """The columns a web session and a login ticket share: the service, its token, and the account that proved
    itself. `sort_order` keeps the tables' column order as the migration made them: the key, these, then each
    table's own."""

    service: Mapped[str] = mapped_column(String(16), sort_order=-1)
    """cpaneld, whostmgrd or webmaild: the port it was opened on, and the only one it is good for."""
    security_token: Mapped[str] = mapped_column(String(16), sort_order=-1)
    """The 10 digits of `/cpsess##########` that every request of the session carries in its path."""
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None, sort_order=-1
    )
    auth_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True, default=None, sort_order=-1
    )
    mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True, default=None, sort_order=-1
    )
    credential_stamp: Mapped[str] = mapped_column(String(64), default="", sort_order=-1)


class WebSession(ServiceLoginColumns, Base):
    """One cookie of one service. A panel user's web session hangs on an AuthSession (so every core rule that
    ends sessions ends it too); a mailbox's holds a keyed hash of the mailbox password hash it was opened with
    (a password change ends it)."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, sort_order=-2)
    """Keyed hash of the cookie secret; the secret itself is only in the browser."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    ip: Mapped[str] = mapped_column(String(45))


class WebLoginTicket(ServiceLoginColumns, Base):
    """A one-time login URL (WHM create_user_session, `hostplane login-url`): used once, then never again. Its
    auth_session_id is the login that made it (a password login through the remote-login call); None for an
    admin's ticket."""

    __tablename__ = "web_login_tickets"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True, sort_order=-2)
    goto_uri: Mapped[str] = mapped_column(String(1024), default="/")
    origin: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    ip: Mapped[str] = mapped_column(String(45))
