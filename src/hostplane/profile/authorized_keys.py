"""Keeping each hosting user's Linux account and authorized_keys in line with the database.

Only role 'user' accounts get a Linux account: administrators run the panel, they host nothing, and a panel admin
with a shell on the host would be a second, unaudited way to root. Their stored SSH keys grant nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.auth.models import ROLE_USER, User
from hostplane.profile.models import SshKey
from hostplane.runtime import Runtime

log = logging.getLogger("hostplane.profile")


async def sync_ssh_keys(rt: Runtime, db: AsyncSession, user: User) -> None:
    """Write the user's stored keys to their account's authorized_keys, inside the caller's unit of work.

    A failure raises, so the caller's database change rolls back. A disabled user gets an empty file: disabling
    an account ends its SSH access too. Call it with the user row locked (lock_user), so two concurrent changes
    to one user's keys cannot both write a file from a stale list.
    """
    if not user.has_system_account:
        return
    keys: list[str] = []
    if not user.disabled:
        rows = await db.scalars(select(SshKey.public_key).where(SshKey.user_id == user.id).order_by(SshKey.id))
        keys = list(rows)
    if keys:
        await rt.system_users.ensure_user(user.username)
    await rt.system_users.write_authorized_keys(user.username, keys)


async def restore_ssh_keys(rt: Runtime, user_id: int) -> None:
    """After a failed unit of work, write the committed state back (best effort; the failure is what counts).

    Covers a commit that fails after the file was written: a key must never stay authorized without its row.
    """
    try:
        async with rt.writing() as db:
            user = await db.get(User, user_id)
            if user is not None:
                await sync_ssh_keys(rt, db, user)
    except Exception:
        log.exception("could not restore the authorized_keys of user %s", user_id)


async def sync_all(rt: Runtime) -> int:
    """Re-apply every hosting user's account and keys (for reconcile); returns how many users were synced."""
    async with rt.reading() as db:
        ids = list(await db.scalars(select(User.id).where(User.role == ROLE_USER).order_by(User.id)))
    for user_id in ids:
        async with rt.writing() as db:
            user = await db.get(User, user_id)
            if user is None:
                continue
            await rt.system_users.ensure_user(user.username)
            await sync_ssh_keys(rt, db, user)
    return len(ids)
