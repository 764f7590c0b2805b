"""The mail lookup tables Postfix and Dovecot read with SQL: two small SQLite files, written row by row.

Why two files and not the panel database:
- Postfix (postfix-sqlite) and Dovecot (dovecot-sqlite) read them directly at every lookup, so a new domain,
  mailbox, alias or password is live the moment its row commits: one INSERT, no map rebuild, no reload.
  The cost of a change does not grow with the number of mailboxes.
- Each daemon reads only what it needs: `postfix.db` (group postfix, 0640) holds domain names, addresses and
  aliases and no secret at all; `dovecot.db` (root only, 0600; Dovecot's auth worker runs as root) holds the
  address, the Dovecot-verifiable password hash, the home and the quota. The panel's own tables (accounts,
  sessions, API keys) are in neither, whatever the panel database is: SQLite or PostgreSQL use the same code.
- The panel database stays the truth: the mail service writes these rows inside its unit of work, undoes them
  if that unit fails, and `rebuild()` makes both files agree with the truth again and reports the drift.

Rollback journal (not WAL): readers then need only read access to the file, and a write holds its lock for
microseconds. All SQL here uses bound parameters.
"""

from __future__ import annotations

import contextlib
import grp
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

POSTFIX_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS domains (name TEXT PRIMARY KEY NOT NULL)",
    "CREATE TABLE IF NOT EXISTS mailboxes (address TEXT PRIMARY KEY NOT NULL, domain TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS mailboxes_domain ON mailboxes (domain)",
    "CREATE TABLE IF NOT EXISTS aliases (source TEXT NOT NULL, destination TEXT NOT NULL, domain TEXT NOT NULL,"
    " PRIMARY KEY (source, destination))",
    "CREATE INDEX IF NOT EXISTS aliases_domain ON aliases (domain)",
)
DOVECOT_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS users (address TEXT PRIMARY KEY NOT NULL, domain TEXT NOT NULL,"
    " password TEXT NOT NULL, home TEXT NOT NULL, quota_mb INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS users_domain ON users (domain)",
)
DOVECOT_SCHEME = "{ARGON2ID}"


def dovecot_password(panel_hash: str) -> str:
    """The panel's argon2id PHC string as Dovecot's scheme-prefixed form (`doveadm pw -t` verifies it)."""
    if not panel_hash.startswith("$argon2id$"):
        raise ValueError("mailbox passwords must be argon2id hashes")
    return DOVECOT_SCHEME + panel_hash


@dataclass(frozen=True)
class MailboxRow:
    address: str
    password: str
    """Dovecot form, e.g. {ARGON2ID}$argon2id$..."""
    home: str
    quota_mb: int

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass
class LookupState:
    """Everything the two files hold, for comparison with the panel database."""

    domains: set[str] = field(default_factory=set)
    mailboxes: dict[str, MailboxRow] = field(default_factory=dict)
    aliases: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class Drift:
    """What `rebuild()` had to change: each entry names one row that was missing, extra or different."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.changed)


class MailLookup:
    """Writer of the lookup files; every method is synchronous and short (call it in a thread)."""

    def __init__(self, directory: Path, *, reader_group: str | None = "postfix") -> None:
        self.directory = directory
        self.postfix_db = directory / "postfix.db"
        self.dovecot_db = directory / "dovecot.db"
        self.reader_group = reader_group

    # --- set-up --------------------------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the folder and both files with their schema and modes (idempotent)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        gid = self._reader_gid()
        os.chmod(self.directory, 0o750)  # noqa: S103 (group/daemons must traverse; nothing secret is listable)
        if gid is not None:
            os.chown(self.directory, 0, gid)
        for path, schema, mode in (
            (self.postfix_db, POSTFIX_SCHEMA, 0o640),
            (self.dovecot_db, DOVECOT_SCHEMA, 0o600),
        ):
            with self._connect(path) as db:
                for statement in schema:
                    db.execute(statement)
            os.chmod(path, mode)
            if gid is not None:
                os.chown(path, 0, gid if path == self.postfix_db else 0)

    def _reader_gid(self) -> int | None:
        if os.geteuid() != 0 or not self.reader_group:
            return None
        try:
            return grp.getgrnam(self.reader_group).gr_gid
        except KeyError:
            return None

    @contextlib.contextmanager
    def _connect(self, path: Path) -> Iterator[sqlite3.Connection]:
        """One short transaction: BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on any error)."""
        connection = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=DELETE")
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    # --- row changes (each one O(1)) ----------------------------------------------------------------
    def put_domain(self, name: str) -> None:
        with self._connect(self.postfix_db) as db:
            db.execute("INSERT OR REPLACE INTO domains (name) VALUES (?)", (name,))

    def remove_domain(self, name: str) -> None:
        """The domain with every mailbox and alias in it (Dovecot first: logins end before delivery does)."""
        with self._connect(self.dovecot_db) as db:
            db.execute("DELETE FROM users WHERE domain = ?", (name,))
        with self._connect(self.postfix_db) as db:
            db.execute("DELETE FROM aliases WHERE domain = ?", (name,))
            db.execute("DELETE FROM mailboxes WHERE domain = ?", (name,))
            db.execute("DELETE FROM domains WHERE name = ?", (name,))

    def put_mailbox(self, row: MailboxRow) -> None:
        """Dovecot first, then Postfix: mail is only accepted once the mailbox can receive it."""
        with self._connect(self.dovecot_db) as db:
            db.execute(
                "INSERT OR REPLACE INTO users (address, domain, password, home, quota_mb) VALUES (?, ?, ?, ?, ?)",
                (row.address, row.domain, row.password, row.home, row.quota_mb),
            )
        with self._connect(self.postfix_db) as db:
            db.execute(
                "INSERT OR REPLACE INTO mailboxes (address, domain) VALUES (?, ?)",
                (row.address, row.domain),
            )

    def remove_mailbox(self, address: str) -> None:
        """Postfix first (delivery refused with 550 from now on), then Dovecot (logins fail)."""
        with self._connect(self.postfix_db) as db:
            db.execute("DELETE FROM mailboxes WHERE address = ?", (address,))
        with self._connect(self.dovecot_db) as db:
            db.execute("DELETE FROM users WHERE address = ?", (address,))

    def set_password(self, address: str, password: str) -> None:
        with self._connect(self.dovecot_db) as db:
            cursor = db.execute("UPDATE users SET password = ? WHERE address = ?", (password, address))
            if cursor.rowcount != 1:
                raise LookupError(f"no lookup row for {address}")

    def put_alias(self, source: str, destination: str) -> None:
        with self._connect(self.postfix_db) as db:
            db.execute(
                "INSERT OR REPLACE INTO aliases (source, destination, domain) VALUES (?, ?, ?)",
                (source, destination, source.rpartition("@")[2]),
            )

    def remove_alias(self, source: str, destination: str) -> None:
        with self._connect(self.postfix_db) as db:
            db.execute("DELETE FROM aliases WHERE source = ? AND destination = ?", (source, destination))

    # --- whole state (reconcile only) ---------------------------------------------------------------
    def read(self) -> LookupState:
        state = LookupState()
        with self._connect(self.postfix_db) as db:
            state.domains = {name for (name,) in db.execute("SELECT name FROM domains")}
            state.aliases = {(s, d) for (s, d) in db.execute("SELECT source, destination FROM aliases")}
            postfix_addresses = {address for (address,) in db.execute("SELECT address FROM mailboxes")}
        with self._connect(self.dovecot_db) as db:
            for address, password, home, quota in db.execute("SELECT address, password, home, quota_mb FROM users"):
                if address in postfix_addresses:
                    state.mailboxes[address] = MailboxRow(address, password, home, quota)
        # A mailbox known to only one of the two daemons is half a mailbox: report it as different.
        for address in postfix_addresses - state.mailboxes.keys():
            state.mailboxes[address] = MailboxRow(address, "", "", -1)
        return state

    def rebuild(self, desired: LookupState) -> Drift:
        """Make both files hold exactly `desired`; returns what differed. Idempotent."""
        self.ensure()
        current = self.read()
        with self._connect(self.dovecot_db) as db:
            dovecot_addresses = {address for (address,) in db.execute("SELECT address FROM users")}
        drift = Drift()
        drift.missing += [f"domain {name}" for name in sorted(desired.domains - current.domains)]
        drift.extra += [f"domain {name}" for name in sorted(current.domains - desired.domains)]
        for address in sorted(desired.mailboxes.keys() - current.mailboxes.keys()):
            drift.missing.append(f"mailbox {address}")
        for address in sorted(current.mailboxes.keys() - desired.mailboxes.keys()):
            drift.extra.append(f"mailbox {address}")
        for address in sorted(dovecot_addresses - current.mailboxes.keys() - desired.mailboxes.keys()):
            drift.extra.append(f"mailbox {address}")
        for address in sorted(desired.mailboxes.keys() & current.mailboxes.keys()):
            if desired.mailboxes[address] != current.mailboxes[address]:
                drift.changed.append(f"mailbox {address}")
        drift.missing += [f"alias {s} -> {d}" for s, d in sorted(desired.aliases - current.aliases)]
        drift.extra += [f"alias {s} -> {d}" for s, d in sorted(current.aliases - desired.aliases)]
        if drift.clean:
            return drift
        with self._connect(self.dovecot_db) as db:
            db.execute("DELETE FROM users")
            db.executemany(
                "INSERT INTO users (address, domain, password, home, quota_mb) VALUES (?, ?, ?, ?, ?)",
                [(r.address, r.domain, r.password, r.home, r.quota_mb) for r in desired.mailboxes.values()],
            )
        with self._connect(self.postfix_db) as db:
            db.execute("DELETE FROM aliases")
            db.execute("DELETE FROM mailboxes")
            db.execute("DELETE FROM domains")
            db.executemany("INSERT INTO domains (name) VALUES (?)", [(name,) for name in desired.domains])
            db.executemany(
                "INSERT INTO mailboxes (address, domain) VALUES (?, ?)",
                [(r.address, r.domain) for r in desired.mailboxes.values()],
            )
            db.executemany(
                "INSERT INTO aliases (source, destination, domain) VALUES (?, ?, ?)",
                [(s, d, s.rpartition("@")[2]) for s, d in desired.aliases],
            )
        return drift
