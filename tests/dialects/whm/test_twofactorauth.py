"""WHM API 1 `twofactorauth_*` on the admin port: the shapes of cPanel's WHM OpenAPI description and the rules of
the core (setup, replay, policy) through this dialect. The reference's own examples, replayed as written, are in
test_reference_examples.py."""

from __future__ import annotations

from hostplane.auth import totp
from hostplane.auth.models import ROLE_ADMIN, User
from hostplane.runtime import Runtime
from tests.conftest import Account, Api, activity_events, oathtool
from tests.dialects.whm.whmapi import (
    assert_access_denied,
    basic,
    call,
    enable_two_factor_by_whm,
    envelope,
    settled_step,
    whm_token,
)

BASE32 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


# --- setting two-factor up -----------------------------------------------------------------------------


async def test_set_tfa_config_with_an_oathtool_code_turns_two_factor_on_for_the_native_login(
    admin_api: Api, admin: Account
) -> None:
    generated = envelope(
        await call(admin_api, "twofactorauth_generate_tfa_config", basic(admin)), "twofactorauth_generate_tfa_config"
    )
    secret = generated["data"]["secret"]
    await settled_step(admin_api)
    response = await call(
        admin_api,
        "twofactorauth_set_tfa_config",
        basic(admin),
        secret=secret,
        tfa_token=oathtool(secret, admin_api.clock.now()),
    )
    data = envelope(response, "twofactorauth_set_tfa_config")["data"]
    assert data["success"] == 1
    assert len(data["recovery_codes"]) == 10
    login = await admin_api.post("/api/v1/auth/login", json={"username": "root", "password": admin.password})
    assert login.status_code == 200
    assert login.json()["two_factor_required"] is True


async def test_the_secret_echoed_back_must_be_the_one_generated(admin_api: Api, admin: Account) -> None:
    generated = envelope(
        await call(admin_api, "twofactorauth_generate_tfa_config", basic(admin)), "twofactorauth_generate_tfa_config"
    )
    other = totp.new_secret()
    step = await settled_step(admin_api)
    response = await call(
        admin_api, "twofactorauth_set_tfa_config", basic(admin), secret=other, tfa_token=totp.code_at(other, step)
    )
    body = envelope(response, "twofactorauth_set_tfa_config", result=0)
    assert "secret" in body["metadata"]["reason"]
    assert "data" not in body
    secret = generated["data"]["secret"]
    wrong = f"{(int(totp.code_at(secret, step)) + 1) % 10**6:06d}"
    response = await call(admin_api, "twofactorauth_set_tfa_config", basic(admin), secret=secret, tfa_token=wrong)
    assert envelope(response, "twofactorauth_set_tfa_config", result=0)["metadata"]["reason"] == (
        "The two-factor code is invalid."
    )


async def test_set_tfa_config_without_a_generated_secret_is_refused(admin_api: Api, admin: Account) -> None:
    secret = totp.new_secret()
    response = await call(
        admin_api, "twofactorauth_set_tfa_config", basic(admin), secret=secret, tfa_token=totp.code_at(secret, 1)
    )
    assert envelope(response, "twofactorauth_set_tfa_config", result=0)["metadata"]["reason"] == (
        "Start the two-factor setup first."
    )


async def test_set_tfa_config_with_an_api_token_needs_the_password(admin_api: Api, admin: Account) -> None:
    created = envelope(await call(admin_api, "api_token_create", basic(admin), token_name="tfa"), "api_token_create")
    token = whm_token("root", created["data"]["token"])
    generated = envelope(
        await call(admin_api, "twofactorauth_generate_tfa_config", token), "twofactorauth_generate_tfa_config"
    )
    secret = generated["data"]["secret"]
    step = await settled_step(admin_api)
    code = totp.code_at(secret, step)
    refused = await call(admin_api, "twofactorauth_set_tfa_config", token, secret=secret, tfa_token=code)
    assert envelope(refused, "twofactorauth_set_tfa_config", result=0)["metadata"]["reason"] == (
        "The current password is required for this change."
    )
    accepted = await call(
        admin_api, "twofactorauth_set_tfa_config", token, secret=secret, tfa_token=code, password=admin.password
    )
    assert envelope(accepted, "twofactorauth_set_tfa_config")["data"]["success"] == 1


async def test_generate_is_refused_once_two_factor_is_on(admin_api: Api, admin: Account) -> None:
    secret, step = await enable_two_factor_by_whm(admin_api, admin)
    headers = {**basic(admin), "X-CPANEL-OTP": totp.code_at(secret, step)}
    response = await call(admin_api, "twofactorauth_generate_tfa_config", headers)
    assert envelope(response, "twofactorauth_generate_tfa_config", result=0)["metadata"]["reason"] == (
        "Two-factor authentication is already enabled on this account."
    )


async def test_basic_auth_of_an_account_with_two_factor_needs_a_fresh_code_each_time(
    admin_api: Api, admin: Account
) -> None:
    secret, step = await enable_two_factor_by_whm(admin_api, admin)
    assert_access_denied(await call(admin_api, "twofactorauth_policy_status", basic(admin)))
    with_code = {**basic(admin), "X-CPANEL-OTP": totp.code_at(secret, step)}
    envelope(await call(admin_api, "twofactorauth_policy_status", with_code), "twofactorauth_policy_status")
    assert_access_denied(await call(admin_api, "twofactorauth_policy_status", with_code))


# --- administering other accounts ------------------------------------------------------------------------


async def test_get_user_configs_lists_every_account_with_its_state(
    admin_api: Api, admin: Account, alice: Account
) -> None:
    body = envelope(
        await call(admin_api, "twofactorauth_get_user_configs", basic(admin)), "twofactorauth_get_user_configs"
    )
    assert body["data"] == {
        "root": {"is_enabled": 0, "primary_domain": ""},
        "alice": {"is_enabled": 0, "primary_domain": ""},
    }
    await enable_two_factor_by_whm(admin_api, alice_as_admin := await _promoted(admin_api, alice))
    one = await call(admin_api, "twofactorauth_get_user_configs", basic(admin), user="alice")
    assert envelope(one, "twofactorauth_get_user_configs")["data"] == {"alice": {"is_enabled": 1, "primary_domain": ""}}
    config = await call(admin_api, "twofactorauth_get_tfa_config_for_user", basic(admin), user=alice_as_admin.username)
    assert envelope(config, "twofactorauth_get_tfa_config_for_user")["data"] == {
        "alice": {"email": {}, "team": {}, "primary_account": {}}
    }
    assert "secret" not in config.text


async def _promoted(admin_api: Api, account: Account) -> Account:
    """Make the account an administrator (WHM is for administrators only)."""
    runtime: Runtime = admin_api.app.state.runtime
    async with runtime.writing(changes_user=account.user.id) as db:
        user = await db.get(User, account.user.id)
        assert user is not None
        user.role = ROLE_ADMIN
    return account


async def test_get_user_configs_of_an_unknown_user_fails(admin_api: Api, admin: Account) -> None:
    response = await call(admin_api, "twofactorauth_get_user_configs", basic(admin), user="nobody")
    assert envelope(response, "twofactorauth_get_user_configs", result=0)["metadata"]["reason"] == (
        "No user named 'nobody'."
    )


async def test_remove_user_config_resets_two_factor_and_reports_each_user(
    runtime: Runtime, admin_api: Api, admin: Account, alice: Account
) -> None:
    await enable_two_factor_by_whm(admin_api, await _promoted(admin_api, alice))
    response = await call(
        admin_api, "twofactorauth_remove_user_config", basic(admin), **{"user-1": "alice", "user-2": "ghost"}
    )
    data = envelope(response, "twofactorauth_remove_user_config")["data"]
    assert data == {"users_modified": ["alice"], "failed": {"ghost": "No user named 'ghost'."}}
    login = await admin_api.post("/api/v1/auth/login", json={"username": "alice", "password": alice.password})
    assert "token" in login.json()
    assert len(await activity_events(runtime, alice.user.id, "admin.user.2fa_reset")) == 1


async def test_remove_user_config_of_only_unknown_users_fails(admin_api: Api, admin: Account) -> None:
    response = await call(admin_api, "twofactorauth_remove_user_config", basic(admin), user="ghost")
    envelope(response, "twofactorauth_remove_user_config", result=0)
    response = await call(admin_api, "twofactorauth_remove_user_config", basic(admin))
    assert envelope(response, "twofactorauth_remove_user_config", result=0)["metadata"]["reason"] == (
        "The parameter “user” is required."
    )


# --- issuer ----------------------------------------------------------------------------------------------


async def test_set_issuer_changes_the_issuer_of_new_setups_everywhere(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    response = await call(admin_api, "twofactorauth_set_issuer", basic(admin), issuer="hostname.example.com")
    body = envelope(response, "twofactorauth_set_issuer")
    assert "data" not in body
    issuer = envelope(await call(admin_api, "twofactorauth_get_issuer", basic(admin)), "twofactorauth_get_issuer")
    assert issuer["data"] == {"issuer": "hostname.example.com", "system_wide_issuer": "hostname.example.com"}
    generated = envelope(
        await call(admin_api, "twofactorauth_generate_tfa_config", basic(admin)), "twofactorauth_generate_tfa_config"
    )
    assert generated["data"]["otpauth_str"].startswith("otpauth://totp/hostname.example.com:root?")
    await user_api.login(alice)
    native = (await user_api.post("/api/v1/account/two-factor/setup")).json()
    assert "issuer=hostname.example.com" in native["otpauth_uri"]


async def test_set_issuer_refuses_colons_control_characters_and_long_names(admin_api: Api, admin: Account) -> None:
    for bad in ("a:b", "evil\r\nX-Injected: 1", "x" * 65, " "):
        response = await call(admin_api, "twofactorauth_set_issuer", basic(admin), issuer=bad)
        envelope(response, "twofactorauth_set_issuer", result=0)
    issuer = envelope(await call(admin_api, "twofactorauth_get_issuer", basic(admin)), "twofactorauth_get_issuer")
    assert issuer["data"]["issuer"] == "Hostplane"


# --- policy ----------------------------------------------------------------------------------------------


async def test_policy_status_enable_and_disable(runtime: Runtime, admin_api: Api, admin: Account) -> None:
    created = envelope(await call(admin_api, "api_token_create", basic(admin), token_name="ops"), "api_token_create")
    token = whm_token("root", created["data"]["token"])
    status = await call(admin_api, "twofactorauth_policy_status", basic(admin))
    assert envelope(status, "twofactorauth_policy_status")["data"] == {"is_enabled": 0}
    assert "data" not in envelope(
        await call(admin_api, "twofactorauth_enable_policy", basic(admin)), "twofactorauth_enable_policy"
    )
    status = await call(admin_api, "twofactorauth_policy_status", token)
    assert envelope(status, "twofactorauth_policy_status")["data"] == {"is_enabled": 1}
    envelope(await call(admin_api, "twofactorauth_disable_policy", token), "twofactorauth_disable_policy")
    status = await call(admin_api, "twofactorauth_policy_status", token)
    assert envelope(status, "twofactorauth_policy_status")["data"] == {"is_enabled": 0}
    assert len(await activity_events(runtime, admin.user.id, "admin.panel.2fa_policy_enabled")) == 1
    assert len(await activity_events(runtime, admin.user.id, "admin.panel.2fa_policy_disabled")) == 1


async def test_the_policy_holds_sessions_without_two_factor_to_its_setup_on_the_native_api(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    envelope(await call(admin_api, "twofactorauth_enable_policy", basic(admin)), "twofactorauth_enable_policy")
    await user_api.login(alice)
    refused = await user_api.get("/api/v1/account/api-keys")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "two_factor_setup_required"
    assert refused.json()["detail"] == "Two-factor authentication is required by policy; set it up first."
    assert (await user_api.get("/api/v1/account")).status_code == 200
    secret = (await user_api.post("/api/v1/account/two-factor/setup")).json()["secret"]
    step = await settled_step(admin_api)
    enabled = await user_api.post(
        "/api/v1/account/two-factor", json={"code": totp.code_at(secret, step), "password": alice.password}
    )
    assert enabled.status_code == 200, enabled.text
    assert (await user_api.get("/api/v1/account/api-keys")).status_code == 200


async def test_the_policy_applies_to_sessions_that_already_exist(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    created = envelope(await call(admin_api, "api_token_create", basic(admin), token_name="ops"), "api_token_create")
    await user_api.login(alice)
    assert (await user_api.get("/api/v1/account/ssh-keys")).status_code == 200
    envelope(await call(admin_api, "twofactorauth_enable_policy", basic(admin)), "twofactorauth_enable_policy")
    assert (await user_api.get("/api/v1/account/ssh-keys")).status_code == 403
    # The admin has no 2FA either, so only the API token (not held to the policy) can switch it off again.
    envelope(
        await call(admin_api, "twofactorauth_disable_policy", basic(admin)), "twofactorauth_disable_policy", result=0
    )
    token = whm_token("root", created["data"]["token"])
    envelope(await call(admin_api, "twofactorauth_disable_policy", token), "twofactorauth_disable_policy")
    assert (await user_api.get("/api/v1/account/ssh-keys")).status_code == 200


async def test_under_the_policy_a_whm_login_without_two_factor_may_only_set_it_up(
    admin_api: Api, admin: Account
) -> None:
    envelope(await call(admin_api, "twofactorauth_enable_policy", basic(admin)), "twofactorauth_enable_policy")
    refused = await call(admin_api, "api_token_list", basic(admin))
    assert envelope(refused, "api_token_list", result=0)["metadata"]["reason"] == (
        "Two-factor authentication is required by policy; set it up first."
    )
    secret, step = await enable_two_factor_by_whm(admin_api, admin)
    headers = {**basic(admin), "X-CPANEL-OTP": totp.code_at(secret, step)}
    envelope(await call(admin_api, "api_token_list", headers), "api_token_list")


async def test_api_tokens_are_not_held_to_the_policy(admin_api: Api, admin: Account) -> None:
    created = envelope(await call(admin_api, "api_token_create", basic(admin), token_name="ci"), "api_token_create")
    envelope(await call(admin_api, "twofactorauth_enable_policy", basic(admin)), "twofactorauth_enable_policy")
    listed = await call(admin_api, "api_token_list", whm_token("root", created["data"]["token"]))
    assert list(envelope(listed, "api_token_list")["data"]["tokens"]) == ["ci"]
