"""POST /dkim/add-new-domain: the mail domain's DKIM key through the core (made once, then the same one)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from hostplane.auth.principal import Client, Principal
from hostplane.mail.dkim import DkimService
from hostplane.mail.models import DkimKey
from hostplane.runtime import Runtime
from tests.conftest import Account, Api
from tests.dialects.easymail.easy import Easy, assert_failure
from tests.dialects.easymail.test_reference_examples import create_domain


async def test_add_dkim_answers_the_txt_records_to_publish(alice_easy: Easy) -> None:
    await create_domain(alice_easy, "example.com")
    response = await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": "example.com"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"result", "domain", "selector", "created", "dkim", "spf", "dmarc"}
    assert body["result"] is True
    assert body["created"] is True
    assert body["domain"] == "example.com"
    assert body["dkim"]["name"] == f"{body['selector']}._domainkey.example.com"
    assert body["dkim"]["type"] == "TXT"
    value = body["dkim"]["value"]
    assert value.startswith("v=DKIM1; k=rsa; p=")
    public = serialization.load_der_public_key(base64.b64decode(value.split("p=", 1)[1]))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert body["spf"]["name"] == "example.com" and body["spf"]["value"].startswith("v=spf1")
    assert body["dmarc"]["name"] == "_dmarc.example.com" and body["dmarc"]["value"].startswith("v=DMARC1")


async def test_add_dkim_twice_keeps_the_first_key(alice_easy: Easy, runtime: Runtime) -> None:
    await create_domain(alice_easy, "example.com")
    first = (await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": "example.com"})).json()
    again = (await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": "Example.COM"})).json()
    assert again["created"] is False
    assert again["dkim"] == first["dkim"]


async def test_the_key_is_the_one_the_core_holds_for_the_domain(
    alice_easy: Easy, alice: Account, runtime: Runtime
) -> None:
    created = await create_domain(alice_easy, "example.com")
    body = (await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": "example.com"})).json()
    record = await DkimService(runtime).get(Principal(alice.user, Client("test")), created["domain"]["id"])
    assert record.txt_value == body["dkim"]["value"]


async def test_add_dkim_for_an_unknown_or_another_users_domain_is_404_and_makes_no_key(
    alice_easy: Easy, admin_api: Api, make_account: Callable[..., Any], runtime: Runtime
) -> None:
    bob = Easy(admin_api)
    await bob.auth(await make_account("bob"))
    bobs = await create_domain(bob, "bob.example")
    assert_failure(await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": "bob.example"}), 404)
    assert_failure(await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": "example.com"}), 404)
    assert_failure(await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": "../etc"}), 400)
    assert_failure(await alice_easy.call("POST", "/dkim/add-new-domain", {}), 400)
    async with runtime.reading() as db:
        assert await db.scalar(select(func.count()).select_from(DkimKey)) == 0
    assert (await bob.call("POST", "/dkim/add-new-domain", {"domain": "bob.example"})).json()["domain"] == "bob.example"
    assert bobs["result"] is True
