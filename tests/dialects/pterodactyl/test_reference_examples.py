"""Every curl example of the Pterodactyl client account reference (../shared/reference/
pterodactyl-client-account-api.txt), sent as the document writes it: the method and path, `Authorization: Bearer`,
`Accept: application/json`, and where the example has a body `Content-Type: application/json` with the document's
JSON (its field names, pretty-printed as there); answered with the documented status, keys and types.

Substituted: the host (https://panel.example.com becomes the in-process user port), the bearer, the values of the
example bodies (real passwords, a real SSH key, its real fingerprint, a real address for the Cloudflare-obfuscated
"[email protected]") and the `{identifier}` of the delete.

The document's bearer is an API key, and so is ours in every example: a key with write access to the account
manages its API and SSH keys without the password, within its own rights (THREAT_MODEL.md, "Leaked API key";
profile/key_rights.py). A login token only sets up what an example needs beforehand, and a separate test shows a
read-only key's, and an address-limited key's, refusal in Pterodactyl's error shape.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hostplane.auth import totp
from hostplane.auth.models import ApiKey
from hostplane.clock import ManualClock
from hostplane.runtime import Runtime
from tests.conftest import Account, Api
from tests.dialects.pterodactyl.ptero import (
    ATOM,
    IDENTIFIER,
    ed25519_key,
    error_of,
    items,
    resource,
    rsa_key,
    sha256_fingerprint,
)

ACCOUNT = "/api/client/account"
BASE32 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
CURL_AGENT = "curl/8.14.1"
NEW_PASSWORD = "N3w-pass-phrase!"


@pytest.fixture
def frozen_step(clock: ManualClock) -> int:
    """The TOTP step of the panel's clock, which stands still unless a test moves it."""
    return totp.current_step(clock.now().timestamp())


def document_json(**fields: Any) -> str:
    """An example's `-d '{ ... }'`: the document's fields, in its order, pretty-printed as it prints them."""
    return json.dumps(fields, indent=2)


async def curl(api: Api, method: str, path: str, bearer: str, data: str | None = None) -> httpx.Response:
    """`curl -X METHOD "https://panel.example.com/api/client/account<path>" -H "Authorization: Bearer ..."
    -H "Accept: application/json" [-H "Content-Type: application/json" -d '<data>']`."""
    headers = {"User-Agent": CURL_AGENT, "Authorization": f"Bearer {bearer}", "Accept": "application/json"}
    if data is None:
        response = await api.http.request(method, ACCOUNT + path, headers=headers)
    else:
        headers["Content-Type"] = "application/json"
        response = await api.http.request(method, ACCOUNT + path, headers=headers, content=data.encode())
    assert response.request.method == method
    assert response.request.url.path == ACCOUNT + path
    assert response.request.url.query == b""
    return response


async def login_token(api: Api, account: Account) -> str:
    return await api.login(account)


async def an_api_key(api: Api, account: Account, description: str = "reference") -> str:
    """The secret of a new API key of the account (made with a login token, by the create example's request)."""
    response = await curl(
        api, "POST", "/api-keys", await login_token(api, account), document_json(description=description)
    )
    resource(response, "api_key")
    secret: str = response.json()["meta"]["secret_token"]
    return secret


def no_content(response: httpx.Response) -> None:
    """The document's "Returns 204 No Content on success."."""
    assert response.status_code == 204, response.text
    assert response.content == b""


async def test_get_account_details(user_api: Api, alice: Account) -> None:
    """curl -X GET "https://panel.example.com/api/client/account" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json"
    """
    key = await an_api_key(user_api, alice)
    response = await curl(user_api, "GET", "", key)
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"object", "attributes"}
    attributes = resource(response, "user")
    assert set(attributes) == {"id", "admin", "username", "email", "first_name", "last_name", "language"}
    assert type(attributes["id"]) is int and type(attributes["admin"]) is bool
    assert all(type(attributes[name]) is str for name in ("username", "email", "first_name", "last_name", "language"))
    assert attributes == {
        "id": alice.user.id,
        "admin": False,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "",
        "last_name": "",
        "language": "en",
    }


async def test_get_account_details_of_an_administrator_says_admin_true(user_api: Api, admin: Account) -> None:
    """curl -X GET "https://panel.example.com/api/client/account" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json"
    """
    key = await an_api_key(user_api, admin)
    assert resource(await curl(user_api, "GET", "", key), "user")["admin"] is True


async def test_update_email_address(user_api: Api, alice: Account) -> None:
    """curl -X PUT "https://panel.example.com/api/client/account/email" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json" \\
    -H "Content-Type: application/json" \\
    -d '{
    "email": "[email protected]",
    "password": "current_password"
    }'
    """
    key = await an_api_key(user_api, alice)
    response = await curl(
        user_api, "PUT", "/email", key, document_json(email="john@example.org", password=alice.password)
    )
    no_content(response)
    assert resource(await curl(user_api, "GET", "", key), "user")["email"] == "john@example.org"


async def test_update_password_ends_every_other_session(user_api: Api, alice: Account) -> None:
    """curl -X PUT "https://panel.example.com/api/client/account/password" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json" \\
    -H "Content-Type: application/json" \\
    -d '{
    "current_password": "old_password",
    "password": "new_password",
    "password_confirmation": "new_password"
    }'
    """
    key = await an_api_key(user_api, alice)
    other_session = await login_token(user_api, alice)
    body = document_json(current_password=alice.password, password=NEW_PASSWORD, password_confirmation=NEW_PASSWORD)
    no_content(await curl(user_api, "PUT", "/password", key, body))
    error_of(await curl(user_api, "GET", "", other_session), 401, "AuthenticationException")
    login = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert login.status_code == 200


async def test_get_two_factor_setup_details(user_api: Api, alice: Account) -> None:
    """curl -X GET "https://panel.example.com/api/client/account/two-factor" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json"
    """
    key = await an_api_key(user_api, alice)
    response = await curl(user_api, "GET", "/two-factor", key)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"data"}
    assert set(body["data"]) == {"image_url_data", "secret"}
    image, secret = body["data"]["image_url_data"], body["data"]["secret"]
    assert isinstance(image, str) and image.startswith("data:image/png;base64,")
    assert base64.b64decode(image.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert isinstance(secret, str) and set(secret) <= BASE32
    assert len(base64.b32decode(secret)) == 20


async def test_enable_two_factor_returns_the_recovery_tokens(user_api: Api, alice: Account, frozen_step: int) -> None:
    """curl -X POST "https://panel.example.com/api/client/account/two-factor" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json" \\
    -H "Content-Type: application/json" \\
    -d '{
    "code": "123456",
    "password": "your_password"
    }'
    """
    key = await an_api_key(user_api, alice)
    secret = (await curl(user_api, "GET", "/two-factor", key)).json()["data"]["secret"]
    body = document_json(code=totp.code_at(secret, frozen_step), password=alice.password)
    response = await curl(user_api, "POST", "/two-factor", key, body)
    assert set(response.json()) == {"object", "attributes"}
    attributes = resource(response, "recovery_tokens")
    assert set(attributes) == {"tokens"}
    tokens = attributes["tokens"]
    assert len(tokens) == len(set(tokens)) == 10
    assert all(isinstance(token, str) and len(token) >= 8 for token in tokens)
    assert (await user_api.get("/api/v1/account/two-factor", token=key)).json()["enabled"] is True


async def test_disable_two_factor(user_api: Api, alice: Account, frozen_step: int) -> None:
    """curl -X POST "https://panel.example.com/api/client/account/two-factor/disable" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json" \\
    -H "Content-Type: application/json" \\
    -d '{
    "password": "your_password"
    }'
    """
    key = await an_api_key(user_api, alice)
    secret = (await curl(user_api, "GET", "/two-factor", key)).json()["data"]["secret"]
    enable = document_json(code=totp.code_at(secret, frozen_step), password=alice.password)
    resource(await curl(user_api, "POST", "/two-factor", key, enable), "recovery_tokens")
    no_content(await curl(user_api, "POST", "/two-factor/disable", key, document_json(password=alice.password)))
    assert (await user_api.get("/api/v1/account/two-factor", token=key)).json()["enabled"] is False


async def test_list_api_keys(user_api: Api, alice: Account) -> None:
    """curl -X GET "https://panel.example.com/api/client/account/api-keys" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json"
    """
    key = await an_api_key(user_api, alice)
    response = await curl(user_api, "GET", "/api-keys", key)
    assert set(response.json()) == {"object", "data"}
    [listed] = items(response, "api_key")
    assert set(listed) == {"identifier", "description", "allowed_ips", "last_used_at", "created_at"}
    assert IDENTIFIER.match(listed["identifier"])
    assert key.startswith("hp_" + listed["identifier"])
    assert listed["description"] == "reference"
    assert listed["allowed_ips"] == []
    assert ATOM.match(listed["created_at"])
    assert ATOM.match(listed["last_used_at"])  # this very request used it


async def test_create_api_key_shows_the_secret_once(user_api: Api, alice: Account, runtime: Runtime) -> None:
    """curl -X POST "https://panel.example.com/api/client/account/api-keys" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json" \\
    -H "Content-Type: application/json" \\
    -d '{
    "description": "My API Key",
    "allowed_ips": ["192.168.1.1", "10.0.0.0/8"]
    }'
    """
    key = await an_api_key(user_api, alice)
    body = document_json(description="My API Key", allowed_ips=["192.168.1.1", "10.0.0.0/8"])
    response = await curl(user_api, "POST", "/api-keys", key, body)
    assert set(response.json()) == {"object", "attributes", "meta"}
    attributes = resource(response, "api_key")
    assert set(attributes) == {"identifier", "description", "allowed_ips", "last_used_at", "created_at"}
    assert attributes["description"] == "My API Key"
    assert attributes["allowed_ips"] == ["192.168.1.1", "10.0.0.0/8"]
    assert attributes["last_used_at"] is None
    assert ATOM.match(attributes["created_at"])
    meta = response.json()["meta"]
    assert set(meta) == {"secret_token"}
    assert meta["secret_token"].startswith("hp_" + attributes["identifier"])
    listed = (await curl(user_api, "GET", "/api-keys", key)).text
    assert meta["secret_token"] not in listed
    assert meta["secret_token"][-32:] not in listed
    async with runtime.reading() as db:
        stored = await db.scalar(select(ApiKey).where(ApiKey.identifier == attributes["identifier"]))
    assert stored is not None
    assert meta["secret_token"][-32:] not in json.dumps([stored.secret_hash, stored.description])


async def test_delete_api_key(user_api: Api, alice: Account) -> None:
    """curl -X DELETE "https://panel.example.com/api/client/account/api-keys/{identifier}" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json"
    """
    key = await an_api_key(user_api, alice)
    other = await an_api_key(user_api, alice, "other")
    identifier = other.removeprefix("hp_")[:16]
    no_content(await curl(user_api, "DELETE", f"/api-keys/{identifier}", key))
    assert [listed["description"] for listed in items(await curl(user_api, "GET", "/api-keys", key), "api_key")] == [
        "reference"
    ]
    error_of(await curl(user_api, "GET", "", other), 401, "AuthenticationException")


async def test_list_ssh_keys(user_api: Api, alice: Account) -> None:
    """curl -X GET "https://panel.example.com/api/client/account/ssh-keys" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json"
    """
    key = await an_api_key(user_api, alice)
    public_key = ed25519_key()
    added = document_json(name="My Laptop", public_key=public_key)
    resource(await curl(user_api, "POST", "/ssh-keys", await login_token(user_api, alice), added), "ssh_key")
    response = await curl(user_api, "GET", "/ssh-keys", key)
    assert set(response.json()) == {"object", "data"}
    [listed] = items(response, "ssh_key")
    assert set(listed) == {"name", "fingerprint", "public_key", "created_at"}
    assert listed["name"] == "My Laptop"
    assert listed["fingerprint"] == sha256_fingerprint(public_key)
    assert listed["public_key"].split()[:2] == public_key.split()[:2]
    assert ATOM.match(listed["created_at"])


async def test_add_ssh_key(user_api: Api, alice: Account) -> None:
    """curl -X POST "https://panel.example.com/api/client/account/ssh-keys" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json" \\
    -H "Content-Type: application/json" \\
    -d '{
    "name": "My Laptop",
    "public_key": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ..."
    }'
    """
    key = await an_api_key(user_api, alice)
    public_key = rsa_key()
    response = await curl(user_api, "POST", "/ssh-keys", key, document_json(name="My Laptop", public_key=public_key))
    assert set(response.json()) == {"object", "attributes"}
    attributes = resource(response, "ssh_key")
    assert set(attributes) == {"name", "fingerprint", "public_key", "created_at"}
    assert attributes["name"] == "My Laptop"
    assert attributes["fingerprint"] == sha256_fingerprint(public_key)
    assert attributes["public_key"].startswith("ssh-rsa AAAAB3NzaC1yc2E")
    assert ATOM.match(attributes["created_at"])


async def test_remove_ssh_key(user_api: Api, alice: Account) -> None:
    """curl -X POST "https://panel.example.com/api/client/account/ssh-keys/remove" \\
    -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Accept: application/json" \\
    -H "Content-Type: application/json" \\
    -d '{
    "fingerprint": "SHA256:abc123..."
    }'
    """
    key = await an_api_key(user_api, alice)
    public_key = ed25519_key()
    added = document_json(name="My Laptop", public_key=public_key)
    resource(await curl(user_api, "POST", "/ssh-keys", await login_token(user_api, alice), added), "ssh_key")
    removal = document_json(fingerprint="SHA256:" + sha256_fingerprint(public_key))
    no_content(await curl(user_api, "POST", "/ssh-keys/remove", key, removal))
    assert items(await curl(user_api, "GET", "/ssh-keys", key), "ssh_key") == []


async def native_key(api: Api, account: Account, **fields: Any) -> str:
    """The secret of a new key with fields Pterodactyl's requests cannot say (scopes), made natively."""
    response = await api.post(
        "/api/v1/account/api-keys", token=await login_token(api, account), json={"description": "limited", **fields}
    )
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


async def test_the_key_examples_with_a_read_only_api_key_are_refused_in_pterodactyls_shape(
    user_api: Api, alice: Account
) -> None:
    """The create, delete, add and remove examples exactly as written, with a read-only API key (scope
    `account:read`) as the bearer: refused (403, AccessDeniedHttpException); nothing changes."""
    key = await native_key(user_api, alice, scopes=["account:read"])
    token = await login_token(user_api, alice)
    [listed] = items(await curl(user_api, "GET", "/api-keys", token), "api_key")
    public_key = ed25519_key()
    for method, path, body in (
        ("POST", "/api-keys", document_json(description="My API Key", allowed_ips=["192.168.1.1", "10.0.0.0/8"])),
        ("DELETE", f"/api-keys/{listed['identifier']}", None),
        ("POST", "/ssh-keys", document_json(name="My Laptop", public_key=public_key)),
        ("POST", "/ssh-keys/remove", document_json(fingerprint="SHA256:" + sha256_fingerprint(public_key))),
    ):
        error_of(await curl(user_api, method, path, key, body), 403, "AccessDeniedHttpException")
    after = items(await curl(user_api, "GET", "/api-keys", token), "api_key")
    assert [(kept["identifier"], kept["allowed_ips"]) for kept in after] == [(listed["identifier"], [])]
    assert items(await curl(user_api, "GET", "/ssh-keys", token), "ssh_key") == []


async def test_the_create_example_with_a_key_limited_to_other_addresses_is_refused(
    user_api: Api, alice: Account
) -> None:
    """The create example's addresses (192.168.1.1, 10.0.0.0/8) are outside a key limited to 203.0.113.0/24 (the
    test client's network): that key cannot make a key usable from them (403); nothing is created."""
    key = await native_key(user_api, alice, allowed_ips=["203.0.113.0/24"])
    body = document_json(description="My API Key", allowed_ips=["192.168.1.1", "10.0.0.0/8"])
    error_of(await curl(user_api, "POST", "/api-keys", key, body), 403, "AccessDeniedHttpException")
    assert len(items(await curl(user_api, "GET", "/api-keys", key), "api_key")) == 1
