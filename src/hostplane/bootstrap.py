"""`hostplane init`: the state folder, key file, TLS certificate, schema and first admin, each made once."""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import dataclass

from sqlalchemy import select

from hostplane import migrate
from hostplane.activity.log import Actor
from hostplane.auth.models import ROLE_ADMIN, User
from hostplane.keys import new_key_file_content
from hostplane.runtime import build_runtime
from hostplane.settings import Settings
from hostplane.system.files import create_exclusive, ensure_private_dir, make_private
from hostplane.tls.selfsigned import self_signed_pem
from hostplane.users.service import UserAdminService

CLI_ACTOR = Actor(user_id=None, ip="cli")


@dataclass(frozen=True)
class InitReport:
    created_key_file: bool
    created_certificate: bool
    admin_username: str | None
    admin_password: str | None
    """Set only when this run created the admin: printed once, never stored in clear."""


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def initialize(
    settings: Settings, *, admin_username: str = "admin", admin_email: str = "admin@hostplane.localhost"
) -> InitReport:
    ensure_private_dir(settings.state_dir)
    created_key = create_exclusive(settings.resolved_secret_key_file, new_key_file_content())
    created_cert = False
    if not settings.plain_http and settings.tls_cert_file is None:
        cert_path, key_path = settings.resolved_tls_files
        if not cert_path.exists():
            cert_pem, key_pem = self_signed_pem(["localhost", socket.getfqdn()])
            create_exclusive(key_path, key_pem, mode=0o600)
            created_cert = create_exclusive(cert_path, cert_pem, mode=0o644)
    migrate.upgrade(settings.resolved_database_url)
    if settings.database_url is None:
        make_private(settings.state_dir / "hostplane.db")
    password = generate_password()
    created_admin = asyncio.run(_ensure_admin(settings, admin_username, admin_email, password))
    return InitReport(
        created_key_file=created_key,
        created_certificate=created_cert,
        admin_username=admin_username if created_admin else None,
        admin_password=password if created_admin else None,
    )


async def _ensure_admin(settings: Settings, username: str, email: str, password: str) -> bool:
    runtime = build_runtime(settings)
    try:
        async with runtime.reading() as db:
            if await db.scalar(select(User.id).where(User.role == ROLE_ADMIN).limit(1)) is not None:
                return False
        await UserAdminService(runtime).create_user(
            CLI_ACTOR, username=username, email=email, password=password, role=ROLE_ADMIN
        )
        return True
    finally:
        await runtime.close()
