"""Database plumbing: the declarative base, shared column types and the engine/session factories."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import DateTime, MetaData, String, event
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone, so we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def tree_key(name: str) -> str:
    """The key a domain name sorts under in its tree: the labels reversed, each followed by a dot
    (`www.example.com` -> `com.example.www.`). The names at or below `example.com` are exactly the keys from
    `com.example.` up to, not including, `com.example/` ('/' follows '.' in ASCII, and labels hold only
    `a-z 0-9 -`): an index range, where a suffix match on the name would read every row."""
    return "".join(f"{label}." for label in reversed(name.split(".")))


TREE_KEY_TYPE = String(254).with_variant(String(254, collation="C"), "postgresql")
"""Byte order on every backend (PostgreSQL's database collation may ignore punctuation, SQLite compares bytes),
so that the range above is the tree and can be read from the index."""


def tree_key_default(context: DefaultExecutionContext) -> str:
    """Column default of a `tree_key` column: computed from the row's `name` at insert."""
    parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return tree_key(str(parameters["name"]))


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs.

    pysqlite's implicit transactions are turned off so that write units of work can start with
    BEGIN IMMEDIATE: a transaction that reads and then writes would otherwise fail at once with
    "database is locked" when another writer committed in between, instead of waiting its turn.
    """
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        kwargs.setdefault("connect_args", {"timeout": 30})
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            immediate = connection.get_execution_options().get(IMMEDIATE_OPTION, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


IMMEDIATE_OPTION = "hostplane_begin_immediate"


def make_sessionmakers(
    engine: AsyncEngine,
) -> tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]]:
    """(readers, writers): writers take SQLite's write lock up front; on PostgreSQL both are plain."""
    writer_engine = engine.execution_options(**{IMMEDIATE_OPTION: True})
    return (
        async_sessionmaker(engine, expire_on_commit=False),
        async_sessionmaker(writer_engine, expire_on_commit=False),
    )


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with factory() as session, session.begin():
        yield session
