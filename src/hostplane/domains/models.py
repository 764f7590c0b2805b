"""Domains and subdomains: each one is a website (an nginx vhost) with its own docroot."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hostplane.db import TREE_KEY_TYPE, Base, UTCDateTime, tree_key_default, utcnow

KIND_DOMAIN = "domain"
KIND_SUBDOMAIN = "subdomain"


class Domain(Base):
    """A hostname a user hosts. `name` is the IDNA ASCII form, lowercase, unique across all users."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    tree_key: Mapped[str] = mapped_column(TREE_KEY_TYPE, index=True, default=tree_key_default)
    """`name` with its labels reversed (hostplane.db.tree_key), set at insert: finds the names below a name
    (hostplane.names)."""
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), index=True, default=None
    )
    """The main domain a subdomain belongs to (same owner); NULL for a main domain."""
    docroot: Mapped[str] = mapped_column(String(1024))
    """Absolute path of the folder nginx serves."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def kind(self) -> str:
        return KIND_SUBDOMAIN if self.parent_id is not None else KIND_DOMAIN
