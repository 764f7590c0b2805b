"""The Alembic migrations and the SQLAlchemy models describe the same schema, on SQLite and on PostgreSQL, and
the migrations run down to nothing and back up again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from hostplane import migrate
from hostplane.db import make_engine
from hostplane.models import Base

EXPECTED_TABLES = {
    "users",
    "auth_sessions",
    "login_challenges",
    "recovery_codes",
    "api_keys",
    "ssh_keys",
    "activity_log",
    "throttle_counters",
    "panel_settings",
    "domains",
    "mail_domains",
    "mailboxes",
    "mail_aliases",
    "plans",
    "user_plans",
    "mail_dkim_keys",
    "tls_certificates",
    "acme_accounts",
    "jobs",
    "web_sessions",
    "web_login_tickets",
}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False, "render_as_batch": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _inspect(connection: Connection) -> tuple[set[str], str | None]:
    tables = set(inspect(connection).get_table_names())
    revision = MigrationContext.configure(connection).get_current_revision()
    return tables, revision


def run_on(url: str, work: Any) -> Any:
    """Run a synchronous inspection on an async engine of the URL (as the app connects)."""

    async def main() -> Any:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def head() -> str:
    heads = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"the migrations must have exactly one head, not {heads}"
    return heads[0]


def test_the_migrations_have_one_head() -> None:
    assert head()


def test_the_models_cover_the_expected_tables() -> None:
    assert set(Base.metadata.tables) == EXPECTED_TABLES


def test_head_on_an_empty_sqlite_database_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    migrate.upgrade(url)
    tables, revision = run_on(url, _inspect)
    assert tables == EXPECTED_TABLES | {"alembic_version"}
    assert revision == head()
    assert run_on(url, _differences) == []


def test_head_matches_the_models_on_every_backend(database_url: str) -> None:
    """`database_url` is migrated to head from empty (SQLite and, when configured, PostgreSQL)."""
    tables, revision = run_on(database_url, _inspect)
    assert tables == EXPECTED_TABLES | {"alembic_version"}
    assert revision == head()
    assert run_on(database_url, _differences) == []


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    config = migrate.alembic_config(database_url)
    command.downgrade(config, "base")
    tables, revision = run_on(database_url, _inspect)
    assert tables <= {"alembic_version"}
    assert revision is None
    migrate.upgrade(database_url)
    tables, revision = run_on(database_url, _inspect)
    assert tables == EXPECTED_TABLES | {"alembic_version"}
    assert revision == head()
    assert run_on(database_url, _differences) == []


def test_upgrading_an_up_to_date_database_changes_nothing(database_url: str) -> None:
    migrate.upgrade(database_url)
    assert run_on(database_url, _inspect)[1] == head()
    assert run_on(database_url, _differences) == []
