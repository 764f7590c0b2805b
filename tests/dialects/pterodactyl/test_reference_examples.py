"""Every example of the Pterodactyl client account reference, sent as the document shows it (method, path,
`Authorization: Bearer`, `Accept: application/json`, and `Content-Type: application/json` with a JSON body where it
has one), answered with the documented shape and types.

The document's bearer is an API key; where an API key alone may not act (creating or deleting API keys and SSH
keys: Hostplane asks a key for the account password there), the example is sent with a login token, which the
same header carries.
"""

from __future__ import annotations

import base64
import json

from sqlalchemy import select

from hostplane.auth import totp
from hostplane.auth.models import ApiKey
from hostplane.runtime import Runtime
from tests.api.test_two_factor import settled_step
from tests.conftest import Account, Api
from tests.dialects.pterodactyl.ptero import (
    ATOM,
    IDENTIFIER,
    create_key,
    ed25519_key,
    enable_two_factor,
    items,
    resource,
    rsa_key,
    send,
    sha256_fingerprint,
)

BASE32 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


async def api_key_client(api: Api, account: Account) -> Api:
    """A client whose bearer is an API key of the account (made by a login-token client)."""
    await api.login(account)
    keyed = api.from_peer("203.0.113.7")
    keyed.token = (await create_key(api, "reference"))["meta"]["secret_token"]
    return keyed


async def test_get_account_details(user_api: Api, alice: Account) -> None:
    keyed = await api_key_client(user_api, alice)
    response = await send(keyed, "GET", "")
    attributes = resource(response, "user")
    assert set(response.json()) == {"object", "attributes"}
    assert attributes == {
        "id": alice.user.id,
        "admin": False,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "",
        "last_name": "",
        "language": "en",
    }


async def test_an_administrator_account_says_admin_true(user_api: Api, admin: Account) -> None:
    await user_api.login(admin)
    assert resource(await send(user_api, "GET", ""), "user")["admin"] is True


async def test_update_email_address(user_api: Api, alice: Account) -> None:
    keyed = await api_key_client(user_api, alice)
    response = await send(keyed, "PUT", "/email", {"email": "john@example.org", "password": alice.password})
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert resource(await send(keyed, "GET", ""), "user")["email"] == "john@example.org"


async def test_update_password_ends_every_other_session(user_api: Api, alice: Account) -> None:
    keyed = await api_key_client(user_api, alice)
    other_session = user_api.token
    response = await send(
        keyed,
        "PUT",
        "/password",
        {
            "current_password": alice.password,
            "password": "N3w-pass-phrase!",
            "password_confirmation": "N3w-pass-phrase!",
        },
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert (await send(user_api, "GET", "", token=other_session)).status_code == 401
    login = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": "N3w-pass-phrase!"})
    assert login.status_code == 200


async def test_get_two_factor_setup_details(user_api: Api, alice: Account) -> None:
    keyed = await api_key_client(user_api, alice)
    response = await send(keyed, "GET", "/two-factor")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data"}
    assert set(body["data"]) == {"image_url_data", "secret"}
    image, secret = body["data"]["image_url_data"], body["data"]["secret"]
    assert image.startswith("data:image/png;base64,")
    assert base64.b64decode(image.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert set(secret) <= BASE32
    assert len(secret) == 32


async def test_enable_two_factor_returns_the_recovery_tokens(user_api: Api, alice: Account) -> None:
    keyed = await api_key_client(user_api, alice)
    secret = (await send(keyed, "GET", "/two-factor")).json()["data"]["secret"]
    step = await settled_step()
    response = await send(
        keyed, "POST", "/two-factor", {"code": totp.code_at(secret, step), "password": alice.password}
    )
    assert set(response.json()) == {"object", "attributes"}
    tokens = resource(response, "recovery_tokens")["tokens"]
    assert len(tokens) == len(set(tokens)) == 10
    assert all(isinstance(token, str) and len(token) >= 8 for token in tokens)


async def test_disable_two_factor(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await enable_two_factor(user_api, alice)
    response = await send(user_api, "POST", "/two-factor/disable", {"password": alice.password})
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert (await user_api.get("/api/v1/account/two-factor")).json()["enabled"] is False


async def test_list_api_keys(user_api: Api, alice: Account) -> None:
    keyed = await api_key_client(user_api, alice)
    [key] = items(await send(keyed, "GET", "/api-keys"), "api_key")
    assert set(key) == {"identifier", "description", "allowed_ips", "last_used_at", "created_at"}
    assert IDENTIFIER.match(key["identifier"])
    assert key["description"] == "reference"
    assert key["allowed_ips"] == []
    assert ATOM.match(key["created_at"])
    assert ATOM.match(key["last_used_at"])  # this very request used it


async def test_create_api_key_shows_the_secret_once(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    response = await send(
        user_api, "POST", "/api-keys", {"description": "My API Key", "allowed_ips": ["192.168.1.1", "10.0.0.0/8"]}
    )
    attributes = resource(response, "api_key")
    assert attributes["description"] == "My API Key"
    assert attributes["allowed_ips"] == ["192.168.1.1", "10.0.0.0/8"]
    assert attributes["last_used_at"] is None
    assert ATOM.match(attributes["created_at"])
    meta = response.json()["meta"]
    assert set(meta) == {"secret_token"}
    assert meta["secret_token"].startswith("hp_" + attributes["identifier"])
    listed = (await send(user_api, "GET", "/api-keys")).text
    assert meta["secret_token"] not in listed
    assert meta["secret_token"][-32:] not in listed
    async with runtime.reading() as db:
        stored = await db.scalar(select(ApiKey).where(ApiKey.identifier == attributes["identifier"]))
    assert stored is not None
    assert meta["secret_token"][-32:] not in json.dumps([stored.secret_hash, stored.description])


async def test_delete_api_key(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    identifier = (await create_key(user_api))["attributes"]["identifier"]
    response = await send(user_api, "DELETE", f"/api-keys/{identifier}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert items(await send(user_api, "GET", "/api-keys"), "api_key") == []


async def test_list_ssh_keys(user_api: Api, alice: Account) -> None:
    keyed = await api_key_client(user_api, alice)
    public_key = ed25519_key()
    await send(user_api, "POST", "/ssh-keys", {"name": "My Laptop", "public_key": public_key})
    [key] = items(await send(keyed, "GET", "/ssh-keys"), "ssh_key")
    assert set(key) == {"name", "fingerprint", "public_key", "created_at"}
    assert key["name"] == "My Laptop"
    assert key["fingerprint"] == sha256_fingerprint(public_key)
    assert key["public_key"].split()[:2] == public_key.split()[:2]
    assert ATOM.match(key["created_at"])


async def test_add_ssh_key(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    public_key = rsa_key()
    response = await send(user_api, "POST", "/ssh-keys", {"name": "My Laptop", "public_key": public_key})
    attributes = resource(response, "ssh_key")
    assert set(response.json()) == {"object", "attributes"}
    assert attributes["name"] == "My Laptop"
    assert attributes["fingerprint"] == sha256_fingerprint(public_key)
    assert attributes["public_key"].startswith("ssh-rsa AAAAB3NzaC1yc2E")
    assert ATOM.match(attributes["created_at"])


async def test_remove_ssh_key_by_its_sha256_fingerprint(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    public_key = ed25519_key()
    await send(user_api, "POST", "/ssh-keys", {"name": "My Laptop", "public_key": public_key})
    response = await send(
        user_api, "POST", "/ssh-keys/remove", {"fingerprint": "SHA256:" + sha256_fingerprint(public_key)}
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert items(await send(user_api, "GET", "/ssh-keys"), "ssh_key") == []
