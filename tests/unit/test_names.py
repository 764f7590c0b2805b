"""The rule of names (hostplane.names): the parents of a name, the index range of the names below it, the lock that
conflicting names share, and the holdings query on both tables, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from hostplane import names
from hostplane.db import tree_key
from hostplane.domains.models import Domain
from hostplane.errors import Conflict
from hostplane.mail.models import MailDomain
from hostplane.runtime import Runtime
from tests.conftest import Account


def test_the_parents_of_a_name_are_every_name_above_it_nearest_first() -> None:
    assert names.parents("a.b.example.com") == ["b.example.com", "example.com", "com"]
    assert names.parents("example.com") == ["com"]


def test_the_parents_of_the_longest_name_stay_a_bounded_list() -> None:
    longest = ".".join(["a"] * 127)  # 253 characters: the most labels a name can have
    assert len(longest) == 253
    assert len(names.parents(longest)) == 126


def test_the_tree_key_reverses_the_labels() -> None:
    assert tree_key("www.example.com") == "com.example.www."
    assert tree_key("example.com") == "com.example."


@pytest.mark.parametrize(
    ("name", "inside"),
    [
        ("example.com", True),
        ("www.example.com", True),
        ("a.b.example.com", True),
        ("myexample.com", False),
        ("example-x.com", False),
        ("example.co", False),
        ("example.com0.net", False),
        ("com", False),
        ("wwwexample.com", False),
        ("x.y-example.com", False),
        ("0example.com", False),
    ],
)
def test_the_tree_range_holds_the_name_and_exactly_the_names_below_it(name: str, inside: bool) -> None:
    low, high = names.tree_range("example.com")
    assert (low <= tree_key(name) < high) is inside
    assert names.is_at_or_below(name, "example.com") is inside


def test_conflicting_names_share_their_lock_and_unrelated_ones_do_not() -> None:
    assert names.lock_key("example.com") == names.lock_key("a.b.example.com") == names.lock_key("www.example.com")
    assert names.lock_key("example.com") != names.lock_key("example.org")
    assert names.lock_key("example.com") != names.lock_key("other.com")
    assert -(2**63) <= names.lock_key("example.com") < 2**63


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("bob")
    return account


async def hold(runtime: Runtime, owner: Account, *, websites: tuple[str, ...] = (), mail: tuple[str, ...] = ()) -> None:
    async with runtime.writing() as db:
        for name in websites:
            db.add(Domain(user_id=owner.user.id, name=name, docroot=f"/nonexistent/{name}"))
        for name in mail:
            db.add(MailDomain(user_id=owner.user.id, name=name))


async def test_a_row_gets_its_tree_key_at_insert(runtime: Runtime, alice: Account) -> None:
    await hold(runtime, alice, websites=("www.example.com",), mail=("mail.test",))
    async with runtime.reading() as db:
        assert await db.scalar(select(Domain.tree_key)) == "com.example.www."
        assert await db.scalar(select(MailDomain.tree_key)) == "test.mail."


async def test_holdings_find_the_name_its_parents_and_the_names_below_it_in_both_tables(
    runtime: Runtime, alice: Account, bob: Account
) -> None:
    await hold(runtime, alice, websites=("example.com", "shop.example.com"), mail=("example.com", "unrelated.org"))
    await hold(runtime, bob, websites=("myexample.com", "example.co"), mail=("a.b.shop.example.com",))
    async with runtime.reading() as db:
        found = await names.holdings(db, "shop.example.com")
        below_only = await names.holdings(db, "shop.example.com", above=False)
    assert [(held.kind, held.name, held.user_id) for held in found] == [
        ("mail", "example.com", alice.user.id),
        ("mail", "a.b.shop.example.com", bob.user.id),
        ("website", "example.com", alice.user.id),
        ("website", "shop.example.com", alice.user.id),
    ]
    assert [held.name for held in below_only] == ["a.b.shop.example.com", "shop.example.com"]


@pytest.mark.parametrize(
    ("name", "bob_may"),
    [
        ("example.com", False),  # alice's website
        ("www.example.com", False),  # below it
        ("a.b.c.example.com", False),
        ("mail.test", False),  # alice's mail domain only
        ("in.mail.test", False),
        ("test", False),  # above a name alice holds (never a valid name, refused all the same)
        ("sub.example.net", False),  # above alice's `x.sub.sub.example.net`
        ("example.net", False),
        ("myexample.com", True),
        ("example.org", True),
        ("other.sub.sub2.example.net", True),
    ],
)
async def test_claim_refuses_another_accounts_tree_from_above_below_and_in_both_tables(
    runtime: Runtime, alice: Account, bob: Account, name: str, bob_may: bool
) -> None:
    await hold(runtime, alice, websites=("example.com", "x.sub.sub.example.net"), mail=("mail.test",))
    async with runtime.writing() as db:
        await names.claim(db, alice.user.id, name)  # all of it is alice's to add
        if bob_may:
            await names.claim(db, bob.user.id, name)
        else:
            with pytest.raises(Conflict) as refused:
                await names.claim(db, bob.user.id, name)
            assert refused.value.detail == names.NOT_AVAILABLE


async def test_the_lookups_can_read_the_indexes(runtime: Runtime) -> None:
    """The name and its parents come from the unique index on `name`, the names below it from an index range on
    `tree_key` (on PostgreSQL too, where the key's "C" collation is what makes the range usable; sequential scans
    are turned off for the plan, since an empty table is cheapest to scan)."""
    async with runtime.reading() as db:
        postgres = runtime.engine.dialect.name == "postgresql"
        if postgres:
            await db.execute(text("SET LOCAL enable_seqscan = off"))
        for table in ("domains", "mail_domains"):
            query = (
                f"SELECT id FROM {table} WHERE name IN ('a.example.com', 'example.com') "
                "OR (tree_key >= 'com.example.a.' AND tree_key < 'com.example.a/')"
            )
            plan = (await db.execute(text(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + query))).all()
            details = " ".join(str(row[-1]) for row in plan)
            assert f"ix_{table}_tree_key" in details, details
            assert f"uq_{table}_name" in details or f"sqlite_autoindex_{table}" in details, details
            assert f"SCAN {table}" not in details and "Seq Scan" not in details, details
