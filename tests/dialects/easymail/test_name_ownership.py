"""A name belongs to one account, through the EasySuperSecureEmail dialect too: `POST /domains` of a name another
account holds (as a website or a mail domain, or a name above or below it) fails with one message that names
nobody and creates neither the domain nor its mailbox; the owner adds the names below its own; DKIM and SSL calls
for another account's name are "not found"; a domain an admin moved answers for its new owner only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from hostplane.mail.models import Mailbox, MailDomain
from hostplane.runtime import Runtime
from tests.conftest import Account, Api
from tests.dialects.easymail.conftest import MAILBOX_PASSWORD
from tests.dialects.easymail.easy import Easy, assert_failure
from tests.dialects.easymail.test_reference_examples import create_domain

NOT_AVAILABLE = "This domain name is not available."


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("bob")
    return account


@pytest.fixture
async def bob_easy(admin_api: Api, bob: Account) -> Easy:
    easy = Easy(admin_api)
    await easy.auth(bob)
    return easy


async def add_website(api: Api, account: Account, name: str) -> dict[str, Any]:
    token = await api.login(account)
    response = await api.post("/api/v1/domains", json={"name": name}, token=token)
    api.token = None
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_domain(easy: Easy, domain: str, username: str = "postmaster") -> Any:
    return await easy.call("POST", "/domains", {"domain": domain, "username": username, "password": MAILBOX_PASSWORD})


async def mail_rows(runtime: Runtime) -> list[tuple[str, int, list[str]]]:
    async with runtime.reading() as db:
        found = []
        for domain in await db.scalars(select(MailDomain).order_by(MailDomain.name)):
            boxes = await db.scalars(select(Mailbox.local_part).where(Mailbox.domain_id == domain.id))
            found.append((domain.name, domain.user_id, sorted(boxes)))
        return found


@pytest.mark.parametrize(
    "wanted",
    ["example.com", "Example.COM.", "www.example.com", "a.b.example.com", "mail.test", "in.mail.test", "shop.test"],
)
async def test_bob_cannot_add_a_name_alice_holds_nor_one_above_or_below_it(
    alice_easy: Easy, bob_easy: Easy, alice: Account, runtime: Runtime, wanted: str
) -> None:
    await add_website(alice_easy.api, alice, "example.com")  # a website only
    await create_domain(alice_easy, "mail.test", "info")  # a mail domain only
    await add_website(alice_easy.api, alice, "www.shop.test")  # below `shop.test`
    before = await mail_rows(runtime)
    msg = assert_failure(await add_domain(bob_easy, wanted), 409)
    assert msg == NOT_AVAILABLE
    assert await mail_rows(runtime) == before


async def test_the_owner_adds_its_website_name_and_the_names_below_as_mail_domains(
    alice_easy: Easy, alice: Account, runtime: Runtime
) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    await create_domain(alice_easy, "example.com", "info")
    await create_domain(alice_easy, "lists.example.com", "info")
    again = assert_failure(await add_domain(alice_easy, "example.com"), 409)
    assert again == "This mail domain already exists."
    owners = {owner for _name, owner, _boxes in await mail_rows(runtime)}
    assert owners == {alice.user.id}


async def test_dkim_and_ssl_calls_for_another_accounts_name_are_not_found_like_an_unknown_name(
    alice_easy: Easy, bob_easy: Easy, alice: Account
) -> None:
    await add_website(alice_easy.api, alice, "example.com")
    await create_domain(alice_easy, "example.com", "info")
    calls = [
        ("/dkim/add-new-domain", {"domain": "{}"}),
        ("/ssl/get-left-days", {"hostname": "{}"}),
        ("/ssl/letsencrypt/install", {"hostname": "{}"}),
    ]
    for path, fields in calls:
        foreign = await bob_easy.call("POST", path, {k: v.format("example.com") for k, v in fields.items()})
        unknown = await bob_easy.call("POST", path, {k: v.format("nobody.example") for k, v in fields.items()})
        assert_failure(foreign, 404)
        assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json()), path
        assert "alice" not in foreign.text


async def test_a_moved_domain_answers_for_its_new_owner_only(
    alice_easy: Easy, bob_easy: Easy, alice: Account, bob: Account, admin: Account, runtime: Runtime
) -> None:
    created = await create_domain(alice_easy, "example.com", "info")
    api = alice_easy.api
    token = await api.login(admin)
    moved = await api.post(
        f"/api/v1/admin/mail/domains/{created['domain']['id']}/move", json={"user_id": bob.user.id}, token=token
    )
    api.token = None
    assert moved.status_code == 200, moved.text
    assert (await alice_easy.call("GET", "/domains")).json() == {"domains": []}
    listed = (await bob_easy.call("GET", "/domains")).json()["domains"]
    assert [(d["name"], d["users_count"]) for d in listed] == [("example.com", 1)]
    assert_failure(await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": "example.com"}), 404)
    dkim = await bob_easy.call("POST", "/dkim/add-new-domain", {"domain": "example.com"})
    assert dkim.status_code == 200, dkim.text
    assert assert_failure(await add_domain(alice_easy, "www.example.com"), 409) == NOT_AVAILABLE
