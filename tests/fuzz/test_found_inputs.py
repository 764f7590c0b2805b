"""Regression tests for the inputs the generated-input run (tests/fuzz, bench/fuzz.py) found answered with a 5xx or
an internal error; each test is named after its class of input."""

from __future__ import annotations

import base64

import pytest

from hostplane.auth.principal import Client
from hostplane.auth.service import AuthService
from hostplane.errors import InvalidCredentials
from hostplane.runtime import Runtime
from tests.conftest import Account, Api
from tests.dialects.whm.whmapi import assert_access_denied, basic, call

UNICODE_DIGITS = ["²", "12³", "١٢٣", "𝟗", "①", "½"]
"""str.isdigit() says yes to each (int() refuses some, reads others as digits nobody typed as a number)."""


async def test_unicode_digits_as_pterodactyl_per_page_are_refused_as_not_an_integer(
    user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    for value in UNICODE_DIGITS:
        response = await user_api.get("/api/client/account/activity", params={"per_page": value})
        assert response.status_code == 422, (value, response.text)
        error = response.json()["errors"][0]
        assert error["meta"] == {"source_field": "per_page", "rule": "integer"}


async def test_unicode_digits_as_pterodactyl_page_mean_the_first_page(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    for value in UNICODE_DIGITS:
        response = await user_api.get("/api/client/account/activity", params={"page": value})
        assert response.status_code == 200, (value, response.text)
        assert response.json()["meta"]["pagination"]["current_page"] == 1


async def test_unicode_digits_as_whm_expires_at_are_refused_with_the_reason(admin_api: Api, admin: Account) -> None:
    for value in UNICODE_DIGITS:
        response = await call(admin_api, "api_token_create", basic(admin), token_name="digits", expires_at=value)
        assert response.status_code == 200
        metadata = response.json()["metadata"]
        assert metadata["result"] == 0
        assert "expires_at" in metadata["reason"] and "Unix time" in metadata["reason"]


@pytest.mark.parametrize("name", ["ro\x00ot", "root\x00", "root\n", "\x00"])
async def test_control_characters_in_an_http_basic_name_are_access_denied(
    admin_api: Api, admin: Account, name: str
) -> None:
    """Base64 carries what a header cannot: a NUL in the name reached the user lookup, which PostgreSQL refuses
    with an error (500). Now the core refuses such a name as a failed login before any query."""
    raw = base64.b64encode(f"{name}:{admin.password}".encode()).decode()
    response = await call(admin_api, "api_token_list", {"Authorization": f"Basic {raw}"})
    assert_access_denied(response)


async def test_control_characters_in_a_login_name_fail_the_login_in_the_core(runtime: Runtime, admin: Account) -> None:
    auth = AuthService(runtime)
    for name in ("ro\x00ot", "root\r\n"):
        with pytest.raises(InvalidCredentials):
            await auth.login(name, admin.password, Client("203.0.113.9"))
        with pytest.raises(InvalidCredentials):
            await auth.authenticate_password(name, admin.password, Client("203.0.113.9"))
