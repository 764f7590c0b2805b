"""Every curl example of the OpenPanel API reference (../shared/reference/openpanel-api.md), sent as the document
writes it: `POST /api/login` with `Content-Type: application/json`, `Accept: application/json` and the document's
JSON text as the body; `POST /api/domains` with only `Authorization: Bearer` and no body. Answers checked for the
documented status, keys and types (the dashboard against domains_example.json, the document's example copied into
the repository).

Substituted: the host (https://OPENPANEL:2083 becomes the in-process user port), the password, the 2FA code and
the JWT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hostplane.auth import totp
from hostplane.auth.tokens import decode_access_token
from hostplane.clock import ManualClock
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from tests.conftest import PASSWORD, Account, Api
from tests.dialects.openpanel.test_domains import REFERENCE, assert_typed_like

CURL_AGENT = "curl/8.14.1"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        openpanel_ip_address="192.0.2.10", openpanel_nameservers=["ns1.example.net", "ns2.example.net"]
    )


@pytest.fixture
def frozen_step(clock: ManualClock) -> int:
    """The TOTP step of the panel's clock, which stands still unless a test moves it."""
    return totp.current_step(clock.now().timestamp())


@pytest.fixture
async def testuser(make_account: Callable[..., Any]) -> Account:
    """The document's `testuser`."""
    account: Account = await make_account("testuser")
    return account


async def curl_login(api: Api, data: str) -> httpx.Response:
    """`curl -X POST https://OPENPANEL:2083/api/login -H "Content-Type: application/json"
    -H "Accept: application/json" -d '<data>'`: the body is the -d text, byte for byte."""
    headers = {"User-Agent": CURL_AGENT, "Content-Type": "application/json", "Accept": "application/json"}
    response = await api.http.request("POST", "/api/login", headers=headers, content=data.encode())
    assert response.request.url.raw_path == b"/api/login"
    return response


async def turn_two_factor_on(api: Api, account: Account, step: int) -> str:
    """2FA on through the native API with the code of the step before `step` (left free for the login)."""
    token = await api.login(account)
    secret: str = (await api.post("/api/v1/account/two-factor/setup", token=token)).json()["secret"]
    response = await api.post(
        "/api/v1/account/two-factor",
        json={"code": totp.code_at(secret, step - 1), "password": account.password},
        token=token,
    )
    assert response.status_code == 200, response.text
    return secret


def json_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def test_login_without_2fa(user_api: Api, testuser: Account, runtime: Runtime) -> None:
    """curl -X POST https://OPENPANEL:2083/api/login \\
      -H "Content-Type: application/json" \\
      -H "Accept: application/json" \\
      -d '{"username": "testuser", "password": "your_password_here"}'
    """
    body = json_of(await curl_login(user_api, f'{{"username": "testuser", "password": "{PASSWORD}"}}'))
    assert isinstance(body["token"], str) and body["token"].startswith("eyJ")
    assert set(body) == {"token", "user_id", "expires_in"}  # the document's `token`, and what DESIGN.md adds
    assert type(body["user_id"]) is int and type(body["expires_in"]) is int
    claims = decode_access_token(runtime.keyring.signing_key, body["token"], runtime.clock.now())
    assert claims is not None and claims.user_id == testuser.user.id
    assert (await user_api.get("/api/v1/account", token=body["token"])).json()["username"] == "testuser"


async def test_login_with_2fa_initial_request(user_api: Api, testuser: Account, frozen_step: int) -> None:
    """Initial request:
    curl -X POST https://OPENPANEL:2083/api/login \\
      -H "Content-Type: application/json" \\
      -H "Accept: application/json" \\
      -d '{"username": "testuser", "password": "your_password_here"}'
    """
    await turn_two_factor_on(user_api, testuser, frozen_step)
    body = json_of(await curl_login(user_api, f'{{"username": "testuser", "password": "{PASSWORD}"}}'))
    assert body == {"twofa_required": True, "user_id": testuser.user.id}
    assert body["twofa_required"] is True and type(body["user_id"]) is int


async def test_login_with_2fa_submit_code(user_api: Api, testuser: Account, frozen_step: int, runtime: Runtime) -> None:
    """Submit 2FA code:
    curl -X POST https://OPENPANEL:2083/api/login \\
      -H "Content-Type: application/json" \\
      -H "Accept: application/json" \\
      -d '{"username": "testuser", "password": "your_password_here", "twofa_code": "123456"}'
    """
    secret = await turn_two_factor_on(user_api, testuser, frozen_step)
    json_of(await curl_login(user_api, f'{{"username": "testuser", "password": "{PASSWORD}"}}'))
    code = totp.code_at(secret, frozen_step)
    data = f'{{"username": "testuser", "password": "{PASSWORD}", "twofa_code": "{code}"}}'
    body = json_of(await curl_login(user_api, data))
    assert set(body) == {"token", "user_id", "expires_in"}
    assert isinstance(body["token"], str) and body["token"].startswith("eyJ")
    assert body["user_id"] == testuser.user.id and type(body["user_id"]) is int
    assert body["expires_in"] == runtime.settings.access_token_seconds and type(body["expires_in"]) is int
    assert (await user_api.get("/api/v1/account", token=body["token"])).status_code == 200


async def test_domains(user_api: Api, testuser: Account) -> None:
    """curl -X POST https://OPENPANEL:2083/api/domains \\
      -H "Authorization: Bearer JWT_TOKEN_HERE"
    """
    login = json_of(await curl_login(user_api, f'{{"username": "testuser", "password": "{PASSWORD}"}}'))
    jwt = login["token"]
    created = await user_api.post("/api/v1/domains", json={"name": "pcx3.com"}, token=jwt)
    assert created.status_code == 201, created.text
    response = await user_api.http.request(
        "POST", "/api/domains", headers={"User-Agent": CURL_AGENT, "Authorization": f"Bearer {jwt}"}
    )
    assert "content-type" not in response.request.headers
    assert response.request.content == b""
    body = json_of(response)
    assert set(body) == set(REFERENCE)
    assert_typed_like(body, REFERENCE, "")
    assert body["domains"] == [
        {"docroot": created.json()["docroot"], "domain_id": created.json()["id"], "domain_url": "pcx3.com"}
    ]
    assert body["maindomains"] == [{"domain_url": "pcx3.com", "tld": "com"}]
    assert body["ip_address"] == "192.0.2.10"
    assert (body["ns1"], body["ns2"]) == ("ns1.example.net", "ns2.example.net")


async def test_domains_without_the_bearer_is_refused_in_openpanels_shape(user_api: Api) -> None:
    """curl -X POST https://OPENPANEL:2083/api/domains (the example without its Authorization header)."""
    response = await user_api.http.request("POST", "/api/domains", headers={"User-Agent": CURL_AGENT})
    assert response.status_code == 401
    assert set(response.json()) == {"error"} and isinstance(response.json()["error"], str)
