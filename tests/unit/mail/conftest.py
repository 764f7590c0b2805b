"""Helpers to read the lookup files of the mail tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from hostplane.runtime import Runtime
from hostplane.system.mailpaths import MailPaths


def lookup_rows(runtime: Runtime, database: str, sql: str) -> list[Any]:
    """Rows of one lookup file ("postfix" or "dovecot"), as the daemons would read them."""
    path: Path = MailPaths.from_settings(runtime.settings).lookup / f"{database}.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()
