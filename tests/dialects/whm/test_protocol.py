"""WHM API 1 on the wire: the paths (plain and under /cpsess##########), parameters in the query or a form body,
the three ways to authenticate, WHM's answers to wrong credentials and unknown functions, bad input answered in
the envelope, and the admin port only."""

from __future__ import annotations

import base64

import pytest

from hostplane.app import create_app
from hostplane.runtime import Runtime
from tests.conftest import Account, Api
from tests.dialects.whm.whmapi import SESSION_PREFIX, assert_access_denied, basic, call, envelope, whm_token

FUNCTION = "twofactorauth_policy_status"


@pytest.mark.parametrize("prefix", ["", SESSION_PREFIX])
async def test_basic_auth_works_on_both_paths(admin_api: Api, admin: Account, prefix: str) -> None:
    response = await call(admin_api, FUNCTION, basic(admin), prefix=prefix)
    assert envelope(response, FUNCTION)["data"] == {"is_enabled": 0}


@pytest.mark.parametrize("prefix", ["", SESSION_PREFIX])
async def test_whm_token_auth_works_on_both_paths(admin_api: Api, admin: Account, prefix: str) -> None:
    created = envelope(await call(admin_api, "api_token_create", basic(admin), token_name="t"), "api_token_create")
    response = await call(admin_api, FUNCTION, whm_token("root", created["data"]["token"]), prefix=prefix)
    envelope(response, FUNCTION)


async def test_a_session_token_works_as_bearer(admin_api: Api, admin: Account) -> None:
    token = await admin_api.login(admin)
    envelope(await call(admin_api, FUNCTION, {"Authorization": f"Bearer {token}"}), FUNCTION)


async def test_parameters_may_come_form_encoded_by_post(admin_api: Api, admin: Account) -> None:
    response = await call(admin_api, "api_token_create", basic(admin), method="POST", form=True, token_name="posted")
    assert envelope(response, "api_token_create")["data"]["name"] == "posted"


@pytest.mark.parametrize("prefix", ["", SESSION_PREFIX])
async def test_wrong_or_missing_credentials_get_whms_access_denied(admin_api: Api, admin: Account, prefix: str) -> None:
    garbage = base64.b64encode(b"no-colon").decode()
    for headers in (
        {},
        basic(admin, "wrong-password"),
        {"Authorization": f"Basic {garbage}"},
        {"Authorization": "Basic !!!"},
        whm_token("root", "hp_" + "A" * 48),
        whm_token("root", "short"),
        {"Authorization": "whm root"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "cpanel root:whatever"},
    ):
        assert_access_denied(await call(admin_api, FUNCTION, headers, prefix=prefix))
        assert_access_denied(await call(admin_api, "no_such_function", headers, prefix=prefix))


async def test_a_bearer_api_key_is_not_a_whm_credential(admin_api: Api, admin: Account) -> None:
    created = envelope(await call(admin_api, "api_token_create", basic(admin), token_name="t"), "api_token_create")
    assert_access_denied(await call(admin_api, FUNCTION, {"Authorization": f"Bearer {created['data']['token']}"}))


async def test_a_normal_user_is_denied_with_right_credentials(admin_api: Api, alice: Account) -> None:
    assert_access_denied(await call(admin_api, FUNCTION, basic(alice)))
    token = await admin_api.login(alice)
    assert_access_denied(await call(admin_api, FUNCTION, {"Authorization": f"Bearer {token}"}))


async def test_repeated_wrong_passwords_are_throttled(admin_api: Api, admin: Account) -> None:
    for _ in range(admin_api.app.state.runtime.settings.throttle_free_failures + 1):
        assert_access_denied(await call(admin_api, FUNCTION, basic(admin, "wrong-password")))
    throttled = await call(admin_api, FUNCTION, basic(admin))
    assert_access_denied(throttled)
    assert int(throttled.headers["retry-after"]) >= 1


async def test_an_unknown_function_is_answered_as_whm_does(admin_api: Api, admin: Account) -> None:
    response = await call(admin_api, "getdiskusage", basic(admin))
    body = envelope(response, "getdiskusage", result=0)
    assert body["metadata"]["reason"] == "Unknown app (“getdiskusage”) requested for this version (1) of the API."
    assert "data" not in body


@pytest.mark.parametrize("prefix", ["", SESSION_PREFIX])
@pytest.mark.parametrize("query", ["", "?api.version=", "?api.version=1"])
async def test_without_api_version_a_call_is_answered_as_api_1(
    admin_api: Api, admin: Account, prefix: str, query: str
) -> None:
    """WHM's API 1 reference calls its functions without `api.version`; every function served is API 1's."""
    response = await admin_api.get(f"{prefix}/json-api/{FUNCTION}{query}", headers=basic(admin))
    assert envelope(response, FUNCTION)["data"] == {"is_enabled": 0}


async def test_without_api_version_every_credential_and_a_form_body_work(admin_api: Api, admin: Account) -> None:
    created = await admin_api.post("/json-api/api_token_create", headers=basic(admin), data={"token_name": "nov"})
    token = envelope(created, "api_token_create")["data"]["token"]
    response = await admin_api.get(f"/json-api/{FUNCTION}", headers=whm_token("root", token))
    envelope(response, FUNCTION)
    session = await admin_api.login(admin)
    envelope(await admin_api.get(f"/json-api/{FUNCTION}", headers={"Authorization": f"Bearer {session}"}), FUNCTION)


async def test_without_api_version_credentials_are_still_required(admin_api: Api) -> None:
    for method in ("GET", "POST"):
        assert_access_denied(await admin_api.request(method, f"/json-api/{FUNCTION}"))


async def test_without_api_version_an_unknown_function_is_unknown_to_api_1(admin_api: Api, admin: Account) -> None:
    body = envelope(await admin_api.get("/json-api/getdiskusage", headers=basic(admin)), "getdiskusage", result=0)
    assert body["metadata"]["reason"] == "Unknown app (“getdiskusage”) requested for this version (1) of the API."


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("0", f"Unknown app ({FUNCTION}) requested for this version (0) of the API."),
        ("2", f"Unknown app (“{FUNCTION}”) requested for this version (2) of the API."),
        ("one", f"Unknown app ({FUNCTION}) requested for this version (0) of the API."),
    ],
)
async def test_an_explicit_other_api_version_is_refused_as_whm_does(
    admin_api: Api, admin: Account, version: str, reason: str
) -> None:
    response = await admin_api.get(f"/json-api/{FUNCTION}", params={"api.version": version}, headers=basic(admin))
    body = envelope(response, FUNCTION, result=0)
    assert body["metadata"]["reason"] == reason
    assert "data" not in body


async def test_a_function_name_that_is_no_name_is_not_echoed(admin_api: Api, admin: Account) -> None:
    response = await admin_api.get("/json-api/bad%0D%0Aname?api.version=1", headers=basic(admin))
    body = envelope(response, "", result=0)
    assert body["metadata"]["reason"] == "Unknown app requested for this version (1) of the API."


async def test_control_characters_in_any_parameter_are_refused_in_the_envelope(admin_api: Api, admin: Account) -> None:
    for params in ({"token_name": "a\r\nb"}, {"token_name": "ok", "acl-0": "all\n"}, {"x\r": "1", "token_name": "ok"}):
        response = await call(admin_api, "api_token_create", basic(admin), **params)
        assert "control characters" in envelope(response, "api_token_create", result=0)["metadata"]["reason"]
    tokens = envelope(await call(admin_api, "api_token_list", basic(admin)), "api_token_list")["data"]["tokens"]
    assert tokens == {}


async def test_a_form_body_that_is_not_utf8_is_refused_in_the_envelope(admin_api: Api, admin: Account) -> None:
    response = await admin_api.post(
        "/json-api/api_token_create?api.version=1",
        headers={**basic(admin), "Content-Type": "application/x-www-form-urlencoded"},
        content=b"token_name=%FF%FE",
    )
    envelope(response, "api_token_create", result=0)


async def test_a_path_prefix_that_is_not_a_security_token_is_not_found(admin_api: Api, admin: Account) -> None:
    for prefix in ("/cpsess123", "/cpsessabcdefghij", "/other"):
        response = await call(admin_api, FUNCTION, basic(admin), prefix=prefix)
        assert response.status_code == 404


async def test_the_user_port_does_not_serve_whm(runtime: Runtime, admin: Account) -> None:
    api = Api(create_app(runtime, "user"))
    try:
        for prefix in ("", SESSION_PREFIX):
            response = await call(api, FUNCTION, basic(admin), prefix=prefix)
            assert response.status_code == 404
            assert response.json()["cpanelresult"]["error"] == "Function not found"  # as cPanel on the wrong port
    finally:
        await api.aclose()


async def test_every_whm_route_refuses_without_credentials_for_every_method(admin_api: Api) -> None:
    for path in (f"/json-api/{FUNCTION}", f"{SESSION_PREFIX}/json-api/{FUNCTION}"):
        for method in ("GET", "POST"):
            assert_access_denied(await admin_api.request(method, f"{path}?api.version=1"))


async def test_responses_carry_the_security_headers(admin_api: Api, admin: Account) -> None:
    response = await call(admin_api, FUNCTION, basic(admin))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert_access_denied(denied := await call(admin_api, FUNCTION, {}))
    assert denied.headers["x-frame-options"] == "DENY"
