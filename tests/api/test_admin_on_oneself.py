"""An administrator's own password and two-factor change only from their own account, where the current password is
asked: the admin tools (native, WHM), reached with a session or an API key, refuse to act on oneself, so a stolen
admin key cannot take the account over."""

from __future__ import annotations

from hostplane.auth import totp
from tests.conftest import Account, Api
from tests.dialects.whm.whmapi import basic, call, envelope

NEW_PASSWORD = "An0ther-long-passphrase"


async def admin_key(admin_api: Api) -> str:
    created = await admin_api.post("/api/v1/account/api-keys", json={"description": "automation"})
    assert created.status_code == 201, created.text
    return str(created.json()["token"])


async def test_the_admin_api_does_not_set_ones_own_password(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    for token in (None, await admin_key(admin_api)):
        response = await admin_api.put(
            f"/api/v1/admin/users/{admin.user.id}/password", json={"password": NEW_PASSWORD}, token=token
        )
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "permission_denied"
    assert (
        await admin_api.post("/api/v1/auth/login", json={"username": "root", "password": NEW_PASSWORD})
    ).status_code == 401


async def test_the_admin_api_does_not_reset_ones_own_two_factor(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    secret = (await admin_api.post("/api/v1/account/two-factor/setup")).json()["secret"]
    code = totp.code_at(secret, totp.current_step(admin_api.clock.now().timestamp()))
    enabled = await admin_api.post("/api/v1/account/two-factor", json={"code": code, "password": admin.password})
    assert enabled.status_code == 200, enabled.text
    key = await admin_key(admin_api)
    refused = await admin_api.post(f"/api/v1/admin/users/{admin.user.id}/reset-two-factor", token=key)
    assert refused.status_code == 403
    assert (await admin_api.get("/api/v1/account/two-factor", token=key)).json()["enabled"] is True


async def test_whm_does_not_remove_ones_own_two_factor_but_still_another_users(
    admin_api: Api, admin: Account, alice: Account
) -> None:
    response = await call(
        admin_api, "twofactorauth_remove_user_config", basic(admin), **{"user-1": "root", "user-2": "alice"}
    )
    data = envelope(response, "twofactorauth_remove_user_config")["data"]
    assert data["users_modified"] == ["alice"]
    assert "your own" in data["failed"]["root"]
