"""The DKIM routes of the native mail API: create-or-return, the reported records, owner scoping, bad input,
and what is stored (sealed) and written for the signer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from hostplane.mail.dkim import DkimService
from hostplane.mail.models import DkimKey
from hostplane.runtime import Runtime
from hostplane.system.opendkim import OpenDkimDriver
from tests.conftest import Account, Api


async def add_domain(api: Api, name: str = "example.com") -> int:
    response = await api.post("/api/v1/mail/domains", json={"name": name})
    assert response.status_code == 201, response.text
    domain_id: int = response.json()["id"]
    return domain_id


async def stored_key(runtime: Runtime, domain_id: int) -> DkimKey | None:
    async with runtime.reading() as db:
        key: DkimKey | None = await db.scalar(select(DkimKey).where(DkimKey.mail_domain_id == domain_id))
        return key


async def test_the_first_post_creates_the_key_and_reports_all_three_records(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    response = await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["mail_domain_id"] == domain_id
    assert body["domain"] == "example.com"
    assert body["selector"] == "mail"
    key = await stored_key(runtime, domain_id)
    assert key is not None
    assert body["dkim"]["name"] == "mail._domainkey.example.com"
    assert body["dkim"]["type"] == "TXT"
    assert body["dkim"]["value"] == f"v=DKIM1; k=rsa; p={key.public_key}"
    assert "".join(body["dkim"]["strings"]) == body["dkim"]["value"]
    assert len(body["dkim"]["strings"][0]) == 255
    assert body["dkim"]["zone"].startswith('mail._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=')
    assert body["spf"] == {
        "name": "example.com",
        "type": "TXT",
        "value": "v=spf1 mx -all",
        "strings": ["v=spf1 mx -all"],
        "zone": 'example.com. IN TXT "v=spf1 mx -all"',
    }
    assert body["dmarc"]["name"] == "_dmarc.example.com"
    assert body["dmarc"]["value"].startswith("v=DMARC1; p=quarantine")


async def test_the_reported_public_key_is_2048_bit_rsa(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    value = (await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")).json()["dkim"]["value"]
    tags = dict(part.strip().split("=", 1) for part in value.split(";"))
    assert tags["v"] == "DKIM1" and tags["k"] == "rsa"
    public = serialization.load_der_public_key(base64.b64decode(tags["p"], validate=True))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048


async def test_a_second_post_returns_the_existing_key_with_200(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    first = await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    second = await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    fetched = await user_api.get(f"/api/v1/mail/domains/{domain_id}/dkim")
    assert fetched.status_code == 200
    assert fetched.json() == first.json()


async def test_concurrent_posts_make_exactly_one_key(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    responses = await asyncio.gather(*[user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim") for _ in range(4)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["dkim"]["value"] for r in responses}) == 1
    key = await stored_key(runtime, domain_id)
    assert key is not None
    signer = OpenDkimDriver.from_settings(runtime.settings)
    assert [k.domain for k in signer.installed_keys()] == ["example.com"]
    installed = signer.key_path("example.com", "mail").read_bytes()
    assert runtime.keyring.open(key.private_key_sealed, "dkim:example.com:mail") == installed


async def test_get_before_any_key_is_404(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    response = await user_api.get(f"/api/v1/mail/domains/{domain_id}/dkim")
    assert response.status_code == 404
    assert response.json()["detail"] == "This mail domain has no DKIM key yet."


async def test_the_private_key_is_stored_sealed_and_opens_to_the_signers_key_file(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    key = await stored_key(runtime, domain_id)
    assert key is not None
    assert b"PRIVATE KEY" not in key.private_key_sealed
    assert b"MII" not in key.private_key_sealed
    pem = runtime.keyring.open(key.private_key_sealed, "dkim:example.com:mail")
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert base64.b64encode(public).decode() == key.public_key
    assert OpenDkimDriver.from_settings(runtime.settings).key_path("example.com", "mail").read_bytes() == pem
    with pytest.raises(InvalidTag):
        runtime.keyring.open(key.private_key_sealed, "dkim:other.example:mail")  # bound to its domain


async def test_another_users_domain_is_404_and_gets_no_key(
    user_api: Api, alice: Account, make_account: Callable[..., Any], runtime: Runtime
) -> None:
    bob = await make_account("bob")
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    await user_api.login(bob)
    for response in (
        await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim"),
        await user_api.get(f"/api/v1/mail/domains/{domain_id}/dkim"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == "No such mail domain."
    assert await stored_key(runtime, domain_id) is None
    assert OpenDkimDriver.from_settings(runtime.settings).installed_keys() == []


async def test_another_users_existing_key_is_not_revealed(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob = await make_account("bob")
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    assert (await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")).status_code == 201
    await user_api.login(bob)
    assert (await user_api.get(f"/api/v1/mail/domains/{domain_id}/dkim")).status_code == 404
    assert (await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")).status_code == 404


async def test_an_unknown_domain_is_404(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    assert (await user_api.post("/api/v1/mail/domains/999999/dkim")).status_code == 404
    assert (await user_api.get("/api/v1/mail/domains/999999/dkim")).status_code == 404


async def test_without_a_token_the_routes_answer_401(user_api: Api) -> None:
    assert (await user_api.post("/api/v1/mail/domains/1/dkim")).status_code == 401
    assert (await user_api.get("/api/v1/mail/domains/1/dkim")).status_code == 401


async def test_a_chosen_selector_is_used(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    response = await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim", json={"selector": "s2026"})
    assert response.status_code == 201, response.text
    assert response.json()["dkim"]["name"] == "s2026._domainkey.example.com"
    assert OpenDkimDriver.from_settings(runtime.settings).key_path("example.com", "s2026").exists()


async def test_the_default_selector_comes_from_the_settings(
    settings_factory: Callable[..., Any], alice: Account
) -> None:
    from hostplane.app import create_app
    from hostplane.runtime import build_runtime

    runtime = build_runtime(settings_factory(dkim_selector="hp1"))
    api = Api(create_app(runtime, "user"))
    try:
        await api.login(alice)
        domain_id = await add_domain(api)
        response = await api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
        assert response.json()["selector"] == "hp1"
        assert response.json()["dkim"]["name"] == "hp1._domainkey.example.com"
    finally:
        await runtime.close()


async def test_asking_for_another_selector_than_the_existing_keys_is_409(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    response = await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim", json={"selector": "other"})
    assert response.status_code == 409
    same = await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim", json={"selector": "mail"})
    assert same.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"selector": "Mail"},
        {"selector": "../../etc/passwd"},
        {"selector": "mail\r\nx"},
        {"selector": "mail._domainkey.evil"},
        {"selector": ""},
        {"selector": "x" * 64},
        {"selector": 5},
        {"selector": "mail", "bits": 512},
    ],
)
async def test_bad_input_is_422_and_touches_no_file(
    user_api: Api, alice: Account, runtime: Runtime, payload: dict[str, Any]
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    response = await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim", json=payload)
    assert response.status_code == 422, response.text
    assert await stored_key(runtime, domain_id) is None
    signer = OpenDkimDriver.from_settings(runtime.settings)
    assert not signer.key_dir.exists() or list(signer.key_dir.iterdir()) == []


async def test_a_non_numeric_domain_id_is_422(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    assert (await user_api.post("/api/v1/mail/domains/abc/dkim")).status_code == 422


async def test_deleting_the_domain_deletes_its_key_row_and_key_file(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    signer = OpenDkimDriver.from_settings(runtime.settings)
    assert signer.key_path("example.com", "mail").exists()
    assert (await user_api.delete(f"/api/v1/mail/domains/{domain_id}")).status_code == 200
    assert await stored_key(runtime, domain_id) is None
    assert signer.installed_keys() == []
    assert "example.com" not in (signer.config_dir / "SigningTable").read_text()


async def test_reapply_restores_a_deleted_key_file_from_the_database(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await add_domain(user_api)
    await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    signer = OpenDkimDriver.from_settings(runtime.settings)
    path = signer.key_path("example.com", "mail")
    pem = path.read_bytes()
    path.unlink()
    drift = await DkimService(runtime).reapply()
    assert drift == [
        "opendkim KeyTable rewritten (it did not match the key folder)",
        "opendkim SigningTable rewritten (it did not match the key folder)",
        "dkim key mail._domainkey.example.com added",
    ]
    assert path.read_bytes() == pem
    assert await DkimService(runtime).reapply() == []
