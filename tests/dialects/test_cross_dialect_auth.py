"""What one dialect sets up, the others and the native API obey: the rules live in the core, once."""

from __future__ import annotations

from hostplane.activity.events import Event
from hostplane.auth import totp
from hostplane.runtime import Runtime
from tests.conftest import PASSWORD, Account, Api, activity_events
from tests.dialects.pterodactyl.ptero import create_key
from tests.dialects.whm.whmapi import enable_two_factor_by_whm


async def test_two_factor_enabled_through_whm_is_required_by_openpanel_and_the_native_login(
    admin_api: Api, user_api: Api, admin: Account
) -> None:
    secret, step = await enable_two_factor_by_whm(admin_api, admin)

    openpanel = await user_api.post("/api/login", json={"username": "root", "password": PASSWORD})
    assert openpanel.status_code == 200, openpanel.text
    assert openpanel.json() == {"twofa_required": True, "user_id": admin.user.id}

    native = await user_api.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
    assert native.status_code == 200, native.text
    assert native.json()["two_factor_required"] is True
    assert "token" not in native.json()

    code = totp.code_at(secret, step)
    done = await user_api.post(
        "/api/v1/auth/login/two-factor", json={"challenge": native.json()["challenge"], "code": code}
    )
    assert done.status_code == 200, done.text
    assert isinstance(done.json()["token"], str)


async def test_an_api_key_made_through_pterodactyl_keeps_its_address_list_on_the_native_api(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, allowed_ips=["198.51.100.0/24"])
    key = created["meta"]["secret_token"]

    refused = await user_api.get("/api/v1/account", token=key)  # from 203.0.113.7, outside the list
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert await activity_events(runtime, alice.user.id, Event.API_KEY_DENIED_IP)

    allowed = await user_api.from_peer("198.51.100.9").get("/api/v1/account", token=key)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["username"] == "alice"
