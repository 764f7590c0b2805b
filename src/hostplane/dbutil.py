"""Small portable SQL helpers the services share."""

from __future__ import annotations

from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Row, Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.errors import NotFound

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def upsert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on the session's backend (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database backend {dialect!r}")


async def owned(db: AsyncSession, query: Select[T], what: str) -> T:
    """The one object `query` selects, already scoped to its owner; else NotFound "No such <what>.": the same
    answer whether it does not exist or belongs to someone else, so ids tell nothing about other tenants."""
    found = await db.scalar(query)
    if found is None:
        raise NotFound(f"No such {what}.")
    return found


async def owned_row(db: AsyncSession, query: Select[*Ts], what: str) -> Row[*Ts]:
    """`owned` for a query of several columns (an object with its parent): the row, or NotFound."""
    found = (await db.execute(query)).one_or_none()
    if found is None:
        raise NotFound(f"No such {what}.")
    return found
