"""The panel's run-time settings in the native admin API (`/api/v1/admin/settings`, admin port only): read and
change them, each change in the activity log; users get 403, API keys need `admin:read` / `admin:write`, bad input
is a 422 problem that changes nothing; the WHM dialect's policy and issuer functions see the same values."""

from __future__ import annotations

from typing import Any

import pytest

from hostplane.runtime import Runtime
from tests.conftest import Account, Api, activity_events
from tests.dialects.whm.whmapi import basic, call, envelope

SETTINGS = "/api/v1/admin/settings"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


async def read(api: Api, **kwargs: Any) -> dict[str, Any]:
    response = await api.get(SETTINGS, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def admin_key(api: Api, *scopes: str) -> str:
    response = await api.post("/api/v1/account/api-keys", json={"description": "ops", "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def test_an_admin_reads_the_defaults(admin_api: Api, admin: Account, runtime: Runtime) -> None:
    await admin_api.login(admin)
    assert await read(admin_api) == {"two_factor_policy": False, "two_factor_issuer": runtime.settings.totp_issuer}


async def test_an_admin_changes_the_issuer_and_the_policy_each_logged(
    admin_api: Api, admin: Account, runtime: Runtime
) -> None:
    await admin_api.login(admin)
    token = await admin_key(admin_api)  # the policy will hold the admin's own session (no 2FA) to its setup
    changed = await admin_api.patch(SETTINGS, json={"two_factor_issuer": "Example Hosting"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"two_factor_policy": False, "two_factor_issuer": "Example Hosting"}
    both = await admin_api.patch(SETTINGS, json={"two_factor_policy": True, "two_factor_issuer": "Example Host"})
    assert both.json() == {"two_factor_policy": True, "two_factor_issuer": "Example Host"}
    assert await read(admin_api, token=token) == both.json()
    issuers = await activity_events(runtime, admin.user.id, "admin.panel.2fa_issuer_set")
    assert [entry.properties for entry in issuers] == [{"issuer": "Example Hosting"}, {"issuer": "Example Host"}]
    assert {entry.actor_id for entry in issuers} == {admin.user.id}
    assert len(await activity_events(runtime, admin.user.id, "admin.panel.2fa_policy_enabled")) == 1
    off = await admin_api.patch(SETTINGS, json={"two_factor_policy": False}, token=token)
    assert off.json() == {"two_factor_policy": False, "two_factor_issuer": "Example Host"}
    assert len(await activity_events(runtime, admin.user.id, "admin.panel.2fa_policy_disabled")) == 1


async def test_an_empty_change_changes_nothing(admin_api: Api, admin: Account, runtime: Runtime) -> None:
    await admin_api.login(admin)
    before = await read(admin_api)
    response = await admin_api.patch(SETTINGS, json={})
    assert response.status_code == 200
    assert response.json() == before
    assert await activity_events(runtime, admin.user.id, "admin.panel.2fa_issuer_set") == []


async def test_switching_the_policy_on_holds_live_sessions_without_two_factor_at_once(
    admin_api: Api, admin: Account
) -> None:
    await admin_api.login(admin)
    assert (await admin_api.patch(SETTINGS, json={"two_factor_policy": True})).status_code == 200
    held = await admin_api.get(SETTINGS)
    assert assert_problem(held, 403)["detail"] == "Two-factor authentication is required by policy; set it up first."


async def test_a_user_is_refused_on_the_admin_port_and_finds_nothing_on_the_user_port(
    admin_api: Api, user_api: Api, alice: Account
) -> None:
    await admin_api.login(alice)
    assert assert_problem(await admin_api.get(SETTINGS), 403)["code"] == "permission_denied"
    refused = await admin_api.patch(SETTINGS, json={"two_factor_policy": True})
    assert assert_problem(refused, 403)["code"] == "permission_denied"
    await user_api.login(alice)
    assert_problem(await user_api.get(SETTINGS), 404)
    assert_problem(await user_api.patch(SETTINGS, json={"two_factor_policy": True}), 404)


async def test_without_credentials_the_settings_are_401(admin_api: Api) -> None:
    assert_problem(await admin_api.get(SETTINGS), 401)
    assert_problem(await admin_api.patch(SETTINGS, json={"two_factor_policy": True}), 401)


async def test_an_api_key_reads_with_admin_read_and_changes_only_with_admin_write(
    admin_api: Api, admin: Account
) -> None:
    await admin_api.login(admin)
    reader, writer, other = (
        await admin_key(admin_api, "admin:read"),
        await admin_key(admin_api, "admin:write"),
        await admin_key(admin_api, "account:write"),
    )
    assert (await admin_api.get(SETTINGS, token=reader)).status_code == 200
    refused = await admin_api.patch(SETTINGS, json={"two_factor_issuer": "Nope"}, token=reader)
    assert assert_problem(refused, 403)["code"] == "permission_denied"
    assert_problem(await admin_api.get(SETTINGS, token=other), 403)
    assert_problem(await admin_api.patch(SETTINGS, json={"two_factor_issuer": "Nope"}, token=other), 403)
    assert (await read(admin_api))["two_factor_issuer"] != "Nope"
    allowed = await admin_api.patch(SETTINGS, json={"two_factor_issuer": "Keyed"}, token=writer)
    assert allowed.status_code == 200, allowed.text
    assert (await read(admin_api, token=writer))["two_factor_issuer"] == "Keyed"


BAD_CHANGES: list[Any] = [
    {"two_factor_issuer": ""},
    {"two_factor_issuer": "a:b"},
    {"two_factor_issuer": "x" * 65},
    {"two_factor_issuer": "bad\r\nissuer"},
    {"two_factor_issuer": "tab\tissuer"},
    {"two_factor_issuer": 7},
    {"two_factor_issuer": ["Example"]},
    {"two_factor_issuer": None},
    {"two_factor_policy": "yes"},
    {"two_factor_policy": 1},
    {"two_factor_policy": "true"},
    {"two_factor_policy": None},
    {"two_factor_policy": True, "two_factor_issuer": "a:b"},
    {"unknown": True},
    [],
    "on",
    None,
]


@pytest.mark.parametrize("change", BAD_CHANGES)
async def test_bad_input_is_a_422_problem_and_changes_nothing(
    admin_api: Api, admin: Account, runtime: Runtime, change: Any
) -> None:
    await admin_api.login(admin)
    before = await read(admin_api)
    assert_problem(await admin_api.patch(SETTINGS, json=change), 422)
    assert await read(admin_api) == before
    assert await activity_events(runtime, admin.user.id, "admin.panel.2fa_policy_enabled") == []


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b""])
async def test_a_body_that_is_not_json_is_a_422_problem(admin_api: Api, admin: Account, body: bytes) -> None:
    await admin_api.login(admin)
    response = await admin_api.patch(SETTINGS, content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 422)


async def test_the_issuer_field_is_named_in_the_problem(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    body = assert_problem(await admin_api.patch(SETTINGS, json={"two_factor_issuer": "a:b"}), 422)
    assert [error["field"] for error in body["errors"]] == ["two_factor_issuer"]


async def test_the_whm_functions_and_the_native_api_see_the_same_settings(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    token = await admin_key(admin_api, "admin:write")
    await admin_api.patch(SETTINGS, json={"two_factor_issuer": "Native Name"})
    issuer = envelope(await call(admin_api, "twofactorauth_get_issuer", basic(admin)), "twofactorauth_get_issuer")
    assert issuer["data"]["issuer"] == "Native Name"
    envelope(
        await call(admin_api, "twofactorauth_set_issuer", basic(admin), issuer="Whm Name"), "twofactorauth_set_issuer"
    )
    assert (await read(admin_api))["two_factor_issuer"] == "Whm Name"
    envelope(await call(admin_api, "twofactorauth_enable_policy", basic(admin)), "twofactorauth_enable_policy")
    assert (await read(admin_api, token=token))["two_factor_policy"] is True
    await admin_api.patch(SETTINGS, json={"two_factor_policy": False}, token=token)
    status = envelope(await call(admin_api, "twofactorauth_policy_status", basic(admin)), "twofactorauth_policy_status")
    assert status["data"] == {"is_enabled": 0}


def test_the_settings_are_documented_in_the_admin_ports_openapi(admin_api: Api) -> None:
    schema = admin_api.app.openapi()
    operations = schema["paths"][SETTINGS]
    assert set(operations) == {"get", "patch"}
    assert all(operation["security"] == [{"bearer": []}] for operation in operations.values())
    components = schema["components"]["schemas"]
    assert set(components["PanelSettingsOut"]["properties"]) == {"two_factor_policy", "two_factor_issuer"}
    assert set(components["PanelSettingsChange"]["properties"]) == {"two_factor_policy", "two_factor_issuer"}
