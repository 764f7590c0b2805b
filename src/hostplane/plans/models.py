"""Hosting plans (limits and features) and which plan each user is on."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hostplane.db import Base, UTCDateTime, utcnow


class Plan(Base):
    """Limits of a hosting account. Every limit is a count (or MB) where 0 means unlimited."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    max_domains: Mapped[int] = mapped_column(Integer, default=0)
    """Main domains (subdomains do not count here)."""
    max_websites: Mapped[int] = mapped_column(Integer, default=0)
    """Websites: every domain and subdomain (each one is an nginx vhost with a docroot)."""
    max_mailboxes: Mapped[int] = mapped_column(Integer, default=0)
    max_mail_quota_mb: Mapped[int] = mapped_column(Integer, default=0)
    """The sum of the quotas of all the user's mailboxes."""
    max_disk_mb: Mapped[int] = mapped_column(Integer, default=0)
    """Measured use of the user's docroots and Maildirs; creates are refused once it is reached."""
    features: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Names of the panel features the plan includes (OpenPanel's `user_features` vocabulary)."""
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    """Applies to every user without an assignment (at most one plan has it; none: no limits at all)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class UserPlan(Base):
    """The plan a user is on; a user without a row is on the default plan."""

    __tablename__ = "user_plans"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="RESTRICT"), index=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


FEATURES: tuple[str, ...] = (
    "notifications", "account", "sessions", "locale", "favorites", "varnish", "docker", "ftp", "emails", "mysql",
    "remote_mysql", "mysql_import", "mysql_conf", "php", "php_options", "php_ini", "phpmyadmin", "crons", "backups",
    "wordpress", "website_builder", "pm2", "autoinstaller", "disk_usage", "inodes", "usage", "info",
    "webserver_conf", "waf", "filemanager", "fix_permissions", "dns", "redirects", "domains", "capitalize_domains",
    "malware_scan", "goaccess", "process_manager", "redis", "memcached", "elasticsearch", "opensearch",
    "temporary_links", "login_history", "twofa", "activity", "dashboard", "helpers", "websites",
    "databases_size_info", "screenshots", "logout", "errors", "search",
    "ssh_keys", "dkim", "ssl", "exports",
)  # fmt: skip
"""Feature names a plan may list: OpenPanel's `user_features` vocabulary plus Hostplane's own. A user with no
plan (and no default plan) has all of them."""
