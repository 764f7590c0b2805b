"""Owner scoping: through the dialect a user sees and changes only their own mail domains and mailboxes; another
tenant's objects are "not found" (404), for administrators too, and stay as they were."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Account, Api
from tests.dialects.easymail.conftest import MAILBOX_PASSWORD
from tests.dialects.easymail.easy import Easy, assert_failure
from tests.dialects.easymail.test_reference_examples import create_domain


@pytest.fixture
async def bobs(admin_api: Api, make_account: Callable[..., Any]) -> tuple[Easy, dict[str, Any]]:
    bob = Easy(admin_api)
    await bob.auth(await make_account("bob"))
    return bob, await create_domain(bob, "bob.example", "boss")


async def bobs_view(bob: Easy, domain_id: int) -> tuple[Any, Any]:
    return (await bob.call("GET", "/domains")).json(), (await bob.call("GET", f"/users/{domain_id}")).json()


@pytest.mark.parametrize("who", ["alice", "admin"])
async def test_another_users_domains_and_users_are_not_found(
    easy: Easy, alice: Account, admin: Account, bobs: tuple[Easy, dict[str, Any]], who: str
) -> None:
    bob, created = bobs
    domain_id, user_id = created["domain"]["id"], created["user"]["id"]
    before = await bobs_view(bob, domain_id)
    await easy.auth(alice if who == "alice" else admin)

    assert (await easy.call("GET", "/domains")).json() == {"domains": []}
    assert_failure(await easy.call("GET", f"/users/{domain_id}"), 404)
    assert_failure(await easy.call("POST", f"/user/{domain_id}", {"email": "x", "password": MAILBOX_PASSWORD}), 404)
    change = {"id": str(user_id), "password": "taken-over-pass-1", "domain_id": str(domain_id)}
    assert_failure(await easy.call("POST", "/user-change-password", change), 404)
    assert_failure(await easy.call("POST", "/user-change-password", {"id": str(user_id), "password": "x" * 12}), 404)
    assert_failure(await easy.call("DELETE", "/users", {"email": "boss@bob.example"}), 404)
    assert_failure(await easy.call("DELETE", "/domain", {"domain": "bob.example"}), 404)
    assert_failure(await easy.call("POST", "/dkim/add-new-domain", {"domain": "bob.example"}), 404)
    taken = await easy.call(
        "POST", "/domains", {"domain": "bob.example", "username": "x", "password": MAILBOX_PASSWORD}
    )
    assert_failure(taken, 409)  # one mail domain per name across all owners (the core's rule)

    assert await bobs_view(bob, domain_id) == before


async def test_the_same_ids_answer_for_their_owner(bobs: tuple[Easy, dict[str, Any]]) -> None:
    bob, created = bobs
    users = (await bob.call("GET", f"/users/{created['domain']['id']}")).json()
    assert users == {
        "users": [{"id": created["user"]["id"], "domain_id": created["domain"]["id"], "email": "boss@bob.example"}]
    }


async def test_unknown_and_foreign_objects_get_the_same_answer(
    alice_easy: Easy, bobs: tuple[Easy, dict[str, Any]]
) -> None:
    _bob, created = bobs
    foreign = await alice_easy.call("GET", f"/users/{created['domain']['id']}")
    unknown = await alice_easy.call("GET", "/users/4242")
    assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())
    foreign = await alice_easy.call("DELETE", "/users", {"email": "boss@bob.example"})
    unknown = await alice_easy.call("DELETE", "/users", {"email": "boss@nobody.example"})
    assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())
