"""Which account a domain name belongs to: the one rule of every path that adds a name, website or mail domain.

A name and every name below it belong to the account that added it first, websites and mail domains alike
(`a.b.example.com` is below `b.example.com` and `example.com`). Another account may add none of them, nor a
name above them (a parent of a held name): whoever holds `example.com` as a mail domain receives its mail, and
whoever holds it as a website serves it. The same account may hold a name both as a website and as a mail
domain, and any name below its own.

The refusal is the same Conflict whoever holds the name and however (`NOT_AVAILABLE`): it never tells who.

Races: `claim` runs inside the creating unit of work, before the insert, and the check and the insert commit
together.
- SQLite: every write unit starts with BEGIN IMMEDIATE (hostplane.db), so writers are serialised by the
  database itself (across processes too): no other unit can insert between the check and the commit.
- PostgreSQL: `claim` first takes a transaction-scoped advisory lock on the name's last two labels. Any two
  names in conflict share them (one is at or below the other, and every stored name has at least two labels),
  so two units that could conflict queue on the same lock, and the second one checks after the first has
  committed (READ COMMITTED reads what committed before each statement). Unrelated names almost never share a
  lock (a 64-bit hash), so adds elsewhere do not wait. The lock is taken before any row lock of the unit (plan
  limits lock the user's row afterwards), always in that order, so it cannot deadlock with them.
- The unique names of each table stay as the last guard.

Lookups are indexed: the name and its parents (at most 126 of them) by the unique index on `name`, the names
below it by an index range on `tree_key` (hostplane.db.tree_key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, literal, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.db import tree_key
from hostplane.domains.models import Domain
from hostplane.errors import Conflict
from hostplane.mail.models import MailDomain

NOT_AVAILABLE = "This domain name is not available."
"""The refusal for a name another account holds (or holds a name above or below): one text for every case."""

Kind = Literal["website", "mail"]
ADVISORY_NAMESPACE = "hostplane.names"
HoldingSelect = Select[str, int, int, str]


@dataclass(frozen=True)
class Holding:
    """One row that holds a name: a website (domain or subdomain) or a mail domain."""

    kind: Kind
    id: int
    user_id: int
    name: str


def parents(name: str) -> list[str]:
    """The names above `name`, nearest first: `a.b.example.com` -> `b.example.com`, `example.com`, `com`."""
    labels = name.split(".")
    return [".".join(labels[index:]) for index in range(1, len(labels))]


def tree_range(name: str) -> tuple[str, str]:
    """The tree keys of `name` and every name below it: from the first (included) to the second (excluded)."""
    key = tree_key(name)
    return key, key[:-1] + "/"


def is_at_or_below(name: str, top: str) -> bool:
    return name == top or name.endswith(f".{top}")


def lock_key(name: str) -> int:
    """The advisory lock of a name (signed 64 bits): the hash of its last two labels, shared by every name it
    could conflict with."""
    zone = ".".join(name.split(".")[-2:])
    digest = hashlib.blake2b(f"{ADVISORY_NAMESPACE}:{zone}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock(db: AsyncSession, names: Iterable[str]) -> None:
    """Serialise this unit of work with every other that claims or moves a conflicting name, until it ends (see
    the module's docstring). SQLite: the unit already holds the database's write lock."""
    if db.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({lock_key(name) for name in names}):  # one order everywhere: no deadlock between two units
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _holding_selects(name: str, *, above: bool, below: bool, not_of: int | None = None) -> list[HoldingSelect]:
    wanted = [name, *(parents(name) if above else [])]
    low, high = tree_range(name)
    selects: list[HoldingSelect] = []
    for kind, table in (("website", Domain), ("mail", MailDomain)):
        condition: ColumnElement[bool] = table.name.in_(wanted)
        if below:
            condition = or_(condition, and_(table.tree_key >= low, table.tree_key < high))
        query = select(literal(kind).label("kind"), table.id, table.user_id, table.name).where(condition)
        selects.append(query if not_of is None else query.where(table.user_id != not_of).limit(1))
    return selects


async def holdings(db: AsyncSession, name: str, *, above: bool = True, below: bool = True) -> list[Holding]:
    """Every website and mail domain, of any account, named `name`, or (by default) a name above it or below it;
    by kind, then in tree order."""
    rows = (await db.execute(union_all(*_holding_selects(name, above=above, below=below)))).all()
    found = [
        Holding(kind="website" if kind == "website" else "mail", id=int(id_), user_id=int(user_id), name=str(held))
        for kind, id_, user_id, held in rows
    ]
    return sorted(found, key=lambda holding: (holding.kind, tree_key(holding.name)))


async def claim(db: AsyncSession, user_id: int, name: str) -> None:
    """Refuse (Conflict NOT_AVAILABLE) unless account `user_id` may add `name`: no other account holds it, a name
    above it or a name below it, as a website or as a mail domain. Call it inside the creating unit of work,
    before the insert (it takes the name's lock on PostgreSQL)."""
    await lock(db, [name])
    for query in _holding_selects(name, above=True, below=True, not_of=user_id):
        if (await db.execute(query)).first() is not None:
            raise Conflict(NOT_AVAILABLE)
