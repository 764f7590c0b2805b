"""Calling WHM API 1 as its clients do: `/json-api/<function>?api.version=1`, Basic or `whm user:token`."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from hostplane.auth import totp
from tests.conftest import Account, Api

SESSION_PREFIX = "/cpsess0123456789"


def basic(account: Account, password: str | None = None) -> dict[str, str]:
    raw = f"{account.username}:{password or account.password}".encode()
    return {"Authorization": f"Basic {base64.b64encode(raw).decode()}"}


def whm_token(username: str, token: str) -> dict[str, str]:
    return {"Authorization": f"whm {username}:{token}"}


async def call(
    api: Api,
    function: str,
    headers: dict[str, str],
    *,
    method: str = "GET",
    prefix: str = "",
    form: bool = False,
    **params: Any,
) -> httpx.Response:
    """One WHM API 1 call; parameters in the query string, or form-encoded in the body with form=True."""
    params = {"api.version": "1", **params}
    url = f"{prefix}/json-api/{function}"
    if form:
        return await api.request(method, url, headers=headers, data=params)
    return await api.request(method, url, headers=headers, params=params)


def envelope(response: httpx.Response, function: str, *, result: int = 1) -> dict[str, Any]:
    """WHM's envelope: HTTP 200, JSON, metadata {command, reason, result, version: 1}; returns the body."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    metadata = body["metadata"]
    assert metadata["command"] == function
    assert metadata["result"] == result, body
    assert metadata["version"] == 1
    assert isinstance(metadata["reason"], str) and metadata["reason"]
    if result == 1:
        assert metadata["reason"] == "OK"
    assert "Traceback" not in response.text
    return body


def assert_access_denied(response: httpx.Response) -> None:
    """WHM's answer to missing or wrong credentials: 403 and a cpanelresult "Access denied" document."""
    assert response.status_code == 403, response.text
    assert response.json() == {
        "cpanelresult": {
            "apiversion": "2",
            "error": "Access denied",
            "data": {"reason": "Access denied", "result": "0"},
            "type": "text",
        }
    }


async def settled_step(api: Api) -> int:
    """The current TOTP step on the clock of the panel behind `api` (it moves only when a test moves it)."""
    return totp.current_step(api.clock.now().timestamp())


async def enable_two_factor_by_whm(api: Api, account: Account) -> tuple[str, int]:
    """generate + set through WHM with Basic auth, using the previous step's code (so the current one stays free
    for a login); returns (secret, step)."""
    generated = envelope(
        await call(api, "twofactorauth_generate_tfa_config", basic(account)), "twofactorauth_generate_tfa_config"
    )
    secret = generated["data"]["secret"]
    step = await settled_step(api)
    response = await call(
        api,
        "twofactorauth_set_tfa_config",
        basic(account),
        secret=secret,
        tfa_token=totp.code_at(secret, step - 1),
    )
    envelope(response, "twofactorauth_set_tfa_config")
    return secret, step
