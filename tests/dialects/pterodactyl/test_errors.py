"""Pterodactyl's error envelope under /api/client, whatever fails: credentials, validation, unknown routes and
methods, the edge's refusals and unexpected errors; never a stack trace, and the native API keeps its own shape."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hostplane.app import create_app
from hostplane.profile.service import AccountService
from hostplane.runtime import Runtime
from tests.api.test_route_security import assert_problem, assert_security_headers, endpoints
from tests.conftest import Account, Api
from tests.dialects.pterodactyl.ptero import (
    ACCOUNT,
    JSON,
    ed25519_key,
    error_of,
    items,
    resource,
    send,
    validation_errors,
)

BAD_CHARS = pytest.mark.parametrize("bad", ["\r", "\n", "\r\n", "\x00"], ids=["cr", "lf", "crlf", "nul"])


def dialect_routes(runtime: Runtime) -> list[tuple[str, str]]:
    found = [(e.method, e.url) for e in endpoints(create_app(runtime, "user")) if e.template.startswith(ACCOUNT)]
    return sorted(found)


def test_the_dialect_answers_on_the_user_port_only(runtime: Runtime) -> None:
    user = {(e.method, e.template) for e in endpoints(create_app(runtime, "user"))}
    admin = {(e.method, e.template) for e in endpoints(create_app(runtime, "admin"))}
    expected = {
        ("GET", ACCOUNT),
        ("PUT", ACCOUNT + "/email"),
        ("PUT", ACCOUNT + "/password"),
        ("GET", ACCOUNT + "/two-factor"),
        ("POST", ACCOUNT + "/two-factor"),
        ("POST", ACCOUNT + "/two-factor/disable"),
        ("DELETE", ACCOUNT + "/two-factor"),
        ("GET", ACCOUNT + "/activity"),
        ("GET", ACCOUNT + "/api-keys"),
        ("POST", ACCOUNT + "/api-keys"),
        ("DELETE", ACCOUNT + "/api-keys/{identifier}"),
        ("GET", ACCOUNT + "/ssh-keys"),
        ("POST", ACCOUNT + "/ssh-keys"),
        ("POST", ACCOUNT + "/ssh-keys/remove"),
    }
    assert {route for route in user if route[1].startswith("/api/client")} == expected
    assert not {route for route in admin if route[1].startswith("/api/client")}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer hp_" + "a" * 48},
    ],
    ids=["none", "garbage", "basic", "unknown-key"],
)
async def test_every_dialect_route_needs_credentials_and_says_so_in_pterodactyl_shape(
    runtime: Runtime, user_api: Api, headers: dict[str, str]
) -> None:
    routes = dialect_routes(runtime)
    assert len(routes) == 14
    for method, url in routes:
        response = await user_api.request(method, url, headers={**JSON, **headers})
        error_of(response, 401, "AuthenticationException")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert_security_headers(response)


async def test_a_wrong_password_is_400_in_pterodactyl_shape(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "PUT", "/email", {"email": "new@example.org", "password": "wrong-password"})
    error = error_of(response, 400, "InvalidPasswordProvidedException")
    assert "password" in error["detail"].lower()


async def test_missing_fields_are_named_with_laravels_rule_and_message(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "PUT", "/password", {"password": "x"})
    assert sorted(validation_errors(response)) == [
        ("current_password", "required", "The current password field is required."),
        ("password_confirmation", "required", "The password confirmation field is required."),
    ]


async def test_an_empty_string_counts_as_missing(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "POST", "/api-keys", {"description": "", "allowed_ips": ["127.0.0.1"]})
    assert validation_errors(response) == [("description", "required", "The description field is required.")]


async def test_a_wrong_json_type_is_named(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "POST", "/api-keys", {"description": 12, "allowed_ips": "127.0.0.1"})
    assert sorted(validation_errors(response)) == [
        ("allowed_ips", "array", "The allowed ips must be an array."),
        ("description", "string", "The description must be a string."),
    ]


@pytest.mark.parametrize("content", [b'{"email": ', b"[1, 2]", b'"text"', b"\xff\xfe"])
async def test_a_body_that_is_not_a_json_object_is_422(user_api: Api, alice: Account, content: bytes) -> None:
    await user_api.login(alice)
    response = await user_api.put(ACCOUNT + "/email", headers=JSON, content=content)
    [(field, rule, detail)] = validation_errors(response)
    assert (field, detail) == ("", "The request body must be a JSON object.")
    assert rule in ("json", "array")


async def test_a_post_without_a_body_is_422(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.post(ACCOUNT + "/ssh-keys", headers=JSON)
    assert validation_errors(response) == [("", "required", "The request body must be a JSON object.")]


@pytest.mark.parametrize(
    ("content_type", "content"),
    [("application/x-www-form-urlencoded", b"description=x"), ("text/plain", b'{"description": "x"}'), (None, b"{}")],
)
async def test_a_body_that_is_not_json_is_415_and_creates_nothing(
    user_api: Api, alice: Account, content_type: str | None, content: bytes
) -> None:
    await user_api.login(alice)
    headers = {"Accept": "application/json"} | ({"Content-Type": content_type} if content_type else {})
    response = await user_api.post(ACCOUNT + "/api-keys", headers=headers, content=content)
    error_of(response, 415, "UnsupportedMediaTypeHttpException")
    assert items(await send(user_api, "GET", "/api-keys"), "api_key") == []


async def test_a_body_over_the_limit_is_413(runtime: Runtime, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    body = json.dumps({"description": "x" * runtime.settings.max_body_bytes}).encode()
    response = await user_api.post(ACCOUNT + "/api-keys", headers=JSON, content=body)
    error_of(response, 413, "PostTooLargeException")
    assert_security_headers(response)


async def test_unknown_fields_are_ignored_as_laravel_does_and_grant_nothing(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(
        user_api,
        "POST",
        "/api-keys",
        {"description": "ci", "allowed_ips": [], "scopes": ["account:read"], "root_admin": True, "expires_at": "x"},
    )
    identifier = resource(response, "api_key")["identifier"]
    [native] = (await user_api.get("/api/v1/account/api-keys")).json()
    assert native["identifier"] == identifier
    assert native["scopes"] == []
    assert native["expires_at"] is None
    assert resource(await send(user_api, "GET", ""), "user")["admin"] is False


@BAD_CHARS
async def test_control_characters_are_refused_everywhere(user_api: Api, alice: Account, bad: str) -> None:
    await user_api.login(alice)
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api-keys", {"description": f"deploy{bad}Injected: yes"}),
        ("POST", "/api-keys", {"description": "ok", "allowed_ips": [f"10.0.0.1{bad}"]}),
        ("POST", "/ssh-keys", {"name": f"laptop{bad}evil", "public_key": ed25519_key()}),
        ("POST", "/ssh-keys", {"name": "laptop", "public_key": ed25519_key() + bad + ed25519_key()}),
        ("PUT", "/email", {"email": f"alice@example.org{bad}Bcc: all@example.org", "password": alice.password}),
        ("POST", "/ssh-keys/remove", {"fingerprint": f"abc{bad}def"}),
    ]
    for method, path, body in attempts:
        response = await send(user_api, method, path, body)
        assert validation_errors(response), (method, path)
        assert bad not in response.text
    assert items(await send(user_api, "GET", "/api-keys"), "api_key") == []
    assert items(await send(user_api, "GET", "/ssh-keys"), "ssh_key") == []
    assert resource(await send(user_api, "GET", ""), "user")["email"] == "alice@example.com"


async def test_validation_errors_never_echo_a_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    secret = "s3cret-value-\r\n-that-must-not-echo"
    response = await send(
        user_api, "PUT", "/password", {"current_password": secret, "password": secret, "password_confirmation": secret}
    )
    assert validation_errors(response)
    assert "s3cret" not in response.text


async def test_an_unknown_route_under_api_client_is_a_pterodactyl_404(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    for path in ("/api/client", "/api/client/servers", ACCOUNT + "/nothing-here"):
        error_of(await user_api.get(path, headers=JSON), 404, "NotFoundHttpException")


async def test_a_wrong_method_is_a_pterodactyl_405(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.patch(ACCOUNT, headers=JSON, content=b"{}")
    error_of(response, 405, "MethodNotAllowedHttpException")
    assert "GET" in response.headers["allow"]


async def test_an_unexpected_error_is_a_generic_500_without_details(
    user_api: Api, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    await user_api.login(alice)

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("connection string postgresql://u:hunter2@db/x")

    monkeypatch.setattr(AccountService, "list_ssh_keys", broken)
    transport = httpx.ASGITransport(app=user_api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(
            ACCOUNT + "/ssh-keys", headers={**JSON, "Authorization": f"Bearer {user_api.token}"}
        )
    error = error_of(response, 500, "HttpException")
    assert error["detail"] == "An unexpected error was encountered while processing this request, please try again."
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert_security_headers(response)


async def test_too_many_wrong_passwords_is_429_with_retry_after(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    statuses = []
    for _ in range(12):
        response = await send(user_api, "POST", "/two-factor/disable", {"password": "wrong-password"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[0] == 400
    assert statuses[-1] == 429, statuses
    error_of(response, 429, "TooManyRequestsHttpException")
    assert int(response.headers["retry-after"]) >= 1


async def test_the_native_api_keeps_its_problem_documents(user_api: Api, alice: Account) -> None:
    assert_problem(await user_api.get("/api/v1/account"), 401)
    await user_api.login(alice)
    assert_problem(await user_api.post("/api/v1/account/api-keys", json={"allowed_ips": ["hodor"]}), 422)
    assert_problem(await user_api.get("/api/v1/nothing-here"), 404)
    assert_problem(await user_api.post("/api/v1/account/api-keys", data={"description": "x"}), 415)
