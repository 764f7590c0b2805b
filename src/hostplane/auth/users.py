"""Finding and locking user rows: the one way every area looks a user up by the name they log in with."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.auth.models import RecoveryCode, User
from hostplane.errors import NotFound
from hostplane.security.passwords import has_control_chars


def login_name(typed: str) -> str:
    """What a person typed as their name, as stored: trimmed and lowercased (a username, or an email address)."""
    return typed.strip().lower()


async def find_by_login_name(db: AsyncSession, typed: str) -> User | None:
    """The user named by username, or by email address when the name holds an '@'; None for a name no account can
    have (control characters never reach a query)."""
    if has_control_chars(typed):
        return None
    name = login_name(typed)
    column = User.email if "@" in name else User.username
    return await db.scalar(select(User).where(column == name))


async def lock_user(db: AsyncSession, user_id: int) -> User:
    """Load the user row for update, so per-user limits hold under concurrent requests (PostgreSQL; SQLite
    write transactions are already serialised by BEGIN IMMEDIATE)."""
    user = await db.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("No such user.")
    return user


async def clear_two_factor(db: AsyncSession, user: User) -> None:
    """Remove the secret, the replay marker and all recovery codes."""
    user.totp_secret_sealed = None
    user.totp_pending_sealed = None
    user.totp_last_step = None
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
