"""A name belongs to one account, with every name below it, websites and mail domains alike, through the native API:
another tenant gets one refusal that names nobody, the owner adds what is below its own names, and ten tenants
racing for one tree get exactly one winner (on SQLite and PostgreSQL, each tenant on its own runtime, as separate
processes would be)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from hostplane import names
from hostplane.auth.principal import Client, Principal
from hostplane.domains.models import Domain
from hostplane.domains.service import DomainService
from hostplane.errors import Conflict
from hostplane.mail.models import MailDomain
from hostplane.mail.service import MailService
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from tests.conftest import Account, Api

NOT_AVAILABLE = "This domain name is not available."


async def website(api: Api, name: str) -> Any:
    return await api.post("/api/v1/domains", json={"name": name})


async def mail_domain(api: Api, name: str) -> Any:
    return await api.post("/api/v1/mail/domains", json={"name": name})


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: Any) -> dict[str, Any]:
    """The one refusal for a name another account holds: 409, the same text whatever the case, no owner named."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == "conflict"
    assert body["detail"] == NOT_AVAILABLE
    assert "alice" not in response.text.lower()
    return body


async def tree_owners(runtime: Runtime, top: str) -> set[tuple[str, str, int]]:
    async with runtime.reading() as db:
        return {(held.kind, held.name, held.user_id) for held in await names.holdings(db, top)}


# --- websites -------------------------------------------------------------------------------------------------------


async def test_bob_cannot_add_alices_domain_nor_a_name_below_it(
    as_alice: Api, as_bob: Api, alice: Account, runtime: Runtime
) -> None:
    created(await website(as_alice, "example.com"))
    first = refused(await website(as_bob, "example.com"))
    for name in ("EXAMPLE.com.", "www.example.com", "a.b.example.com"):
        assert refused(await website(as_bob, name)) == first
    assert await tree_owners(runtime, "example.com") == {("website", "example.com", alice.user.id)}


async def test_bob_cannot_add_a_name_above_one_alice_holds(as_alice: Api, as_bob: Api) -> None:
    created(await website(as_alice, "shop.example.com"))
    refused(await website(as_bob, "example.com"))
    refused(await mail_domain(as_bob, "example.com"))
    # a single label is no domain at all: refused by the grammar, before any owner is looked at
    too_short = await website(as_bob, "com")
    assert too_short.status_code == 422
    assert "alice" not in too_short.text


async def test_bob_cannot_add_a_subdomain_below_alices_name_under_his_own_domain(as_alice: Api, as_bob: Api) -> None:
    """Bob's main domain `example.net` does not let him reach `shop.example.net` once alice holds it."""
    created(await website(as_alice, "shop.example.net"))
    refused(await website(as_bob, "example.net"))
    bobs = created(await website(as_bob, "example.org"))
    created(await website(as_alice, "blog.example.org.test"))  # unrelated: example.org.test is not below example.org
    ok = await as_bob.post(f"/api/v1/domains/{bobs['id']}/subdomains", json={"name": "www"})
    assert ok.status_code == 201, ok.text


async def test_the_refusal_is_the_same_for_every_kind_and_place_of_the_other_accounts_name(
    as_alice: Api, as_bob: Api
) -> None:
    created(await website(as_alice, "example.com"))
    created(await mail_domain(as_alice, "mail.test"))
    answers = [
        (await call(as_bob, name)).json()
        for call in (website, mail_domain)
        for name in ("example.com", "www.example.com", "mail.test", "in.mail.test")
    ]
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0]["detail"] == NOT_AVAILABLE


async def test_the_owner_adding_a_name_again_keeps_its_own_answer(as_alice: Api) -> None:
    created(await website(as_alice, "example.com"))
    created(await mail_domain(as_alice, "example.com"))
    again = await website(as_alice, "example.com")
    assert (again.status_code, again.json()["detail"]) == (409, "This domain already exists.")
    again = await mail_domain(as_alice, "example.com")
    assert (again.status_code, again.json()["detail"]) == (409, "This mail domain already exists.")


# --- mail domains ---------------------------------------------------------------------------------------------------


async def test_bob_cannot_take_the_mail_of_alices_website(as_alice: Api, as_bob: Api, runtime: Runtime) -> None:
    """Whoever adds a mail domain receives its mail: alice's website name is not bob's to add as one."""
    created(await website(as_alice, "example.com"))
    refused(await mail_domain(as_bob, "example.com"))
    refused(await mail_domain(as_bob, "www.example.com"))
    async with runtime.reading() as db:
        assert list(await db.scalars(select(MailDomain.name))) == []


async def test_alices_mail_only_domain_is_not_bobs_website(as_alice: Api, as_bob: Api, runtime: Runtime) -> None:
    created(await mail_domain(as_alice, "mail.test"))
    refused(await website(as_bob, "mail.test"))
    refused(await website(as_bob, "webmail.mail.test"))
    refused(await mail_domain(as_bob, "mail.test"))
    async with runtime.reading() as db:
        assert list(await db.scalars(select(Domain.name))) == []


async def test_alice_adds_what_is_below_her_names_as_websites_and_mail_domains(
    as_alice: Api, as_bob: Api, alice: Account, runtime: Runtime
) -> None:
    main = created(await website(as_alice, "example.com"))
    sub = await as_alice.post(f"/api/v1/domains/{main['id']}/subdomains", json={"name": "www"})
    assert sub.status_code == 201, sub.text
    created(await mail_domain(as_alice, "example.com"))
    created(await mail_domain(as_alice, "lists.example.com"))
    created(await website(as_alice, "blog.example.com"))  # a main domain of its own, below her name
    created(await mail_domain(as_alice, "mail.test"))
    created(await website(as_alice, "mail.test"))
    assert {owner for _kind, _name, owner in await tree_owners(runtime, "example.com")} == {alice.user.id}
    refused(await website(as_bob, "lists.example.com"))


async def test_a_deleted_name_is_free_for_another_account(as_alice: Api, as_bob: Api) -> None:
    domain = created(await website(as_alice, "example.com"))
    mail = created(await mail_domain(as_alice, "example.com"))
    assert (await as_alice.delete(f"/api/v1/domains/{domain['id']}")).status_code == 204
    refused(await website(as_bob, "example.com"))  # the mail domain still holds the name
    assert (await as_alice.delete(f"/api/v1/mail/domains/{mail['id']}")).status_code == 200
    created(await website(as_bob, "www.example.com"))


# --- races ----------------------------------------------------------------------------------------------------------


@pytest.fixture
async def runtimes(settings: Settings) -> AsyncIterator[list[Runtime]]:
    """Ten runtimes on one database: ten engines, ten pools, ten write queues, like ten panel processes."""
    made = [build_runtime(settings) for _ in range(10)]
    try:
        yield made
    finally:
        for runtime in made:
            await runtime.close()


RACE_NAMES = [
    "race.test",
    "www.race.test",
    "race.test",
    "a.www.race.test",
    "www.race.test",
    "race.test",
    "b.a.www.race.test",
    "a.www.race.test",
    "race.test",
    "www.race.test",
]
"""One chain of names, each at or below the others: any two conflict (siblings such as `a.race.test` and
`b.race.test` would not)."""


@pytest.mark.parametrize("kinds", ["websites", "mail", "both"])
async def test_ten_tenants_racing_for_one_tree_get_exactly_one_winner(
    make_account: Callable[..., Any], runtimes: list[Runtime], kinds: str
) -> None:
    tenants = [(await make_account(f"tenant{index}")).user for index in range(10)]

    async def add(index: int) -> str:
        runtime, tenant, name = runtimes[index], tenants[index], RACE_NAMES[index]
        as_website = kinds == "websites" or (kinds == "both" and index % 2 == 0)
        try:
            if as_website:
                await DomainService(runtime).add(tenant, name)
            else:
                await MailService(runtime).add_domain(Principal(user=tenant, client=Client(ip="test")), name)
        except Conflict as exc:
            return exc.detail
        return "added"

    outcomes = await asyncio.gather(*[add(index) for index in range(10)])
    assert outcomes.count("added") == 1, outcomes
    assert set(outcomes) == {"added", NOT_AVAILABLE}, outcomes
    winner = tenants[outcomes.index("added")].id
    assert {owner for _kind, _name, owner in await tree_owners(runtimes[0], "race.test")} == {winner}


async def test_while_a_unit_holds_a_claim_no_other_writer_can_claim_in_that_tree(
    runtime: Runtime, alice: Account, bob: Account
) -> None:
    """Why the race has one winner: the claim and the insert commit together, and until then a conflicting claim
    cannot even start (PostgreSQL: the tree's advisory lock is held; SQLite: the database's write lock is)."""
    postgres = runtime.engine.dialect.name == "postgresql"
    async with runtime.writing() as db:
        await names.claim(db, alice.user.id, "www.race.test")
        db.add(MailDomain(user_id=alice.user.id, name="www.race.test"))
        await db.flush()
        if postgres:
            async with runtime.engine.connect() as other:
                taken = await other.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": names.lock_key("race.test")}
                )
                free = await other.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": names.lock_key("race.example")}
                )
                await other.rollback()
            assert (taken, free) == (False, True)
        else:
            path = runtime.engine.url.database
            assert path
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
    async with runtime.writing() as db:
        with pytest.raises(Conflict):
            await names.claim(db, bob.user.id, "race.test")
