"""Running Alembic from code (init, tests) against a given database URL."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("hostplane") / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; synchronous (it runs its own event loop), so call it off the loop."""
    command.upgrade(alembic_config(database_url), revision)
