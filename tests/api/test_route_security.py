"""The edge of the native API: which routes answer without credentials, which port serves what, the shape of
every error, security headers, and what happens to oversized, mistyped, malformed or smuggling request bodies.

The last part starts the real `hostplane` command (init, then serve) and talks raw HTTP to it over sockets.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Route

from hostplane.app import PUBLIC_ROUTES
from hostplane.profile.service import AccountService
from hostplane.runtime import Runtime
from tests.conftest import PASSWORD, Account, Api, app_for
from tests.live_server import RunningPanel, launched_panels

ADMIN_PREFIX = "/api/v1/admin"
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


# --- walking the apps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    """The route's path as declared, e.g. /api/v1/admin/users/{user_id}."""

    @property
    def url(self) -> str:
        """The path with every parameter filled with a dummy value."""
        return re.sub(r"\{[^}]+\}", "1", self.template)


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every (method, path) the app routes, through included routers, with the ones FastAPI adds itself (such as
    /openapi.json). A route the walk cannot enumerate (a mount, a websocket) fails it rather than going unchecked."""
    found: set[Endpoint] = set()
    for context in iter_route_contexts(app.routes):
        assert isinstance(context.original_route, Route), f"the walk does not cover {context.original_route!r}"
        assert context.path and context.methods, context.original_route
        found.update(Endpoint(method, context.path) for method in context.methods)
    return sorted(found, key=lambda e: (e.template, e.method))


def app_of(runtime: Runtime, role: str) -> FastAPI:
    return app_for(runtime, role)  # type: ignore[arg-type]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with the given status, and nothing that looks like a stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    return body


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert "default-src 'none'" in response.headers.get("content-security-policy", "")


@pytest.fixture(params=["user", "admin"])
async def any_api(request: pytest.FixtureRequest, runtime: Runtime) -> AsyncIterator[Api]:
    api = Api(app_for(runtime, request.param))
    yield api
    await api.aclose()


def native(routes: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The routes of the native API (dialects differ per port by design)."""
    return {(method, path) for method, path in routes if path.startswith(("/api/v1/", "/openapi.json"))}


def test_the_walk_finds_the_routes_of_both_ports(runtime: Runtime) -> None:
    user = native({(e.method, e.template) for e in endpoints(app_of(runtime, "user"))})
    admin = native({(e.method, e.template) for e in endpoints(app_of(runtime, "admin"))})
    assert ("GET", "/api/v1/account") in user
    assert ("POST", "/api/v1/account/ssh-keys/remove") in user
    assert ("GET", "/api/v1/admin/users") in admin
    assert ("PUT", "/api/v1/admin/users/{user_id}/password") in admin
    assert user < admin
    assert len(admin) >= 30


def test_every_public_route_exists_and_native_ones_on_both_ports(runtime: Runtime) -> None:
    routed = {role: {(e.method, e.template) for e in endpoints(app_of(runtime, role))} for role in ("user", "admin")}
    for role in ("user", "admin"):
        assert routed[role] >= native(set(PUBLIC_ROUTES)), role
    assert routed["user"] | routed["admin"] >= PUBLIC_ROUTES


async def test_every_route_but_the_public_ones_needs_credentials(any_api: Api) -> None:
    """Native routes; each dialect refuses unauthenticated requests in its own shape, held by its own tests."""
    checked = 0
    for endpoint in endpoints(any_api.app):
        route = (endpoint.method, endpoint.template)
        if route in PUBLIC_ROUTES or not native({route}):
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
            response = await any_api.request(endpoint.method, endpoint.url, headers=headers)
            assert response.status_code == 401, (endpoint, headers, response.text)
            if endpoint.method != "HEAD":
                assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
        checked += 1
    assert checked >= 15


async def test_public_routes_answer_without_credentials(any_api: Api) -> None:
    routed = {(e.method, e.template) for e in endpoints(any_api.app)}
    for method, path in sorted(PUBLIC_ROUTES & routed):
        response = await any_api.request(method, path)
        assert response.status_code != 401, (method, path)
        assert response.status_code in (200, 400, 422), (method, path, response.text)


async def test_no_admin_route_exists_on_the_user_port(runtime: Runtime, user_api: Api, admin: Account) -> None:
    user_routes = endpoints(app_of(runtime, "user"))
    assert not [e for e in user_routes if e.template.startswith(ADMIN_PREFIX)]
    await user_api.login(admin)
    admin_routes = [e for e in endpoints(app_of(runtime, "admin")) if e.template.startswith(ADMIN_PREFIX)]
    assert len(admin_routes) >= 7
    for endpoint in admin_routes:
        response = await user_api.request(endpoint.method, endpoint.url)
        assert_problem(response, 404)


async def test_a_normal_users_token_is_forbidden_on_every_admin_route(
    runtime: Runtime, admin_api: Api, alice: Account
) -> None:
    await admin_api.login(alice)
    admin_routes = [e for e in endpoints(app_of(runtime, "admin")) if e.template.startswith(ADMIN_PREFIX)]
    for endpoint in admin_routes:
        response = await admin_api.request(endpoint.method, endpoint.url)
        body = assert_problem(response, 403)
        assert body["code"] == "permission_denied"


async def test_an_admin_reaches_the_admin_routes_on_the_admin_port(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    response = await admin_api.get("/api/v1/admin/users")
    assert response.status_code == 200
    assert [user["username"] for user in response.json()] == ["root"]


# --- problem documents and headers -------------------------------------------------------------------


async def test_an_unknown_route_is_a_problem_document(any_api: Api) -> None:
    response = await any_api.get("/api/v1/no-such-thing")
    assert_problem(response, 404)
    assert_security_headers(response)


async def test_a_wrong_method_is_a_problem_document(any_api: Api) -> None:
    response = await any_api.delete("/api/v1/health")
    assert_problem(response, 405)
    assert_security_headers(response)
    assert "GET" in response.headers["allow"]


async def test_success_responses_carry_the_security_headers(user_api: Api, alice: Account) -> None:
    health = await user_api.get("/api/v1/health")
    assert health.status_code == 200
    assert_security_headers(health)
    await user_api.login(alice)
    account = await user_api.get("/api/v1/account")
    assert account.status_code == 200
    assert_security_headers(account)


async def test_plain_http_responses_carry_no_hsts(user_api: Api) -> None:
    response = await user_api.get("/api/v1/health")
    assert "strict-transport-security" not in response.headers


async def test_error_responses_carry_the_security_headers(user_api: Api, alice: Account) -> None:
    unauthenticated = await user_api.get("/api/v1/account")
    assert_problem(unauthenticated, 401)
    assert_security_headers(unauthenticated)
    await user_api.login(alice)
    invalid = await user_api.patch("/api/v1/account", json={"language": "not a language"})
    assert_problem(invalid, 422)
    assert_security_headers(invalid)


async def test_an_unexpected_error_is_a_500_problem_without_details_or_trace(
    user_api: Api, alice: Account, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await user_api.login(alice)

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("connection string postgresql://u:hunter2@db/x")

    monkeypatch.setattr(AccountService, "list_ssh_keys", broken)
    transport = httpx.ASGITransport(app=user_api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/v1/account/ssh-keys", headers={"Authorization": f"Bearer {user_api.token}"})
    assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert_security_headers(response)
    logged = [record for record in caplog.records if record.name == "hostplane.api" and record.exc_info]
    assert len(logged) == 1
    assert "hunter2" in str(logged[0].exc_info[1])  # type: ignore[index]


# --- request bodies ----------------------------------------------------------------------------------


async def account_of(api: Api) -> dict[str, Any]:
    response = await api.get("/api/v1/account")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def test_a_body_over_the_limit_with_content_length_is_413_and_changes_nothing(
    runtime: Runtime, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    before = await account_of(user_api)
    limit = runtime.settings.max_body_bytes
    body = json.dumps({"first_name": "x" * limit}).encode()
    assert len(body) > limit
    response = await user_api.patch("/api/v1/account", content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 413)
    assert_security_headers(response)
    assert await account_of(user_api) == before


async def test_a_streamed_body_over_the_limit_is_413_and_changes_nothing(
    runtime: Runtime, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    before = await account_of(user_api)
    limit = runtime.settings.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"first_name": "'
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096
        yield b'"}'

    response = await user_api.patch("/api/v1/account", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(response, 413)
    assert await account_of(user_api) == before


async def test_a_declared_content_length_over_the_limit_is_refused_before_reading(
    runtime: Runtime, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    declared = str(runtime.settings.max_body_bytes + 1)

    async def small() -> AsyncIterator[bytes]:
        yield b"{}"

    response = await user_api.patch(
        "/api/v1/account", content=small(), headers={"Content-Type": "application/json", "Content-Length": declared}
    )
    assert_problem(response, 413)


async def test_a_body_at_the_limit_passes_the_edge(runtime: Runtime, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    limit = runtime.settings.max_body_bytes
    prefix = b'{"first_name": "Alice"'
    body = prefix + b" " * (limit - len(prefix) - 1) + b"}"
    assert len(body) == limit
    response = await user_api.patch("/api/v1/account", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "Alice"


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"first_name": "Mallory"}'),
        ("application/x-www-form-urlencoded", b"first_name=Mallory"),
        ("multipart/form-data; boundary=xyz", b'--xyz\r\nContent-Disposition: form-data; name="first_name"\r\n\r\n'),
        (None, b'{"first_name": "Mallory"}'),
    ],
)
async def test_a_body_that_is_not_json_is_415_and_changes_nothing(
    user_api: Api, alice: Account, content_type: str | None, content: bytes
) -> None:
    await user_api.login(alice)
    before = await account_of(user_api)
    headers = {"Content-Type": content_type} if content_type else {}
    response = await user_api.patch("/api/v1/account", content=content, headers=headers)
    body = assert_problem(response, 415)
    assert body["code"] == "unsupported_media_type"
    assert await account_of(user_api) == before


async def test_a_form_post_to_login_is_415(user_api: Api, alice: Account) -> None:
    response = await user_api.post("/api/v1/auth/login", data={"username": "alice", "password": PASSWORD})
    assert_problem(response, 415)


@pytest.mark.parametrize("content", [b'{"first_name": ', b"{'first_name': 'x'}", b"[1, 2", b"\xff\xfe"])
async def test_malformed_json_is_422_and_changes_nothing(user_api: Api, alice: Account, content: bytes) -> None:
    await user_api.login(alice)
    before = await account_of(user_api)
    response = await user_api.patch("/api/v1/account", content=content, headers={"Content-Type": "application/json"})
    body = assert_problem(response, 422)
    assert body["code"] == "invalid_input"
    assert await account_of(user_api) == before


async def test_unknown_fields_are_422_and_change_nothing(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    before = await account_of(user_api)
    response = await user_api.patch("/api/v1/account", json={"first_name": "Eve", "role": "admin"})
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["role"]
    assert await account_of(user_api) == before
    login = await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD, "otp": "1"})
    assert_problem(login, 422)


async def test_validation_errors_never_echo_the_input(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    secret = "s3cret-value-\r\n-that-must-not-echo"
    response = await user_api.put(
        "/api/v1/account/password",
        json={"current_password": secret, "password": secret, "password_confirmation": secret},
    )
    assert_problem(response, 422)
    assert "s3cret" not in response.text


def ed25519_public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


BAD_CHARS = pytest.mark.parametrize("bad", ["\r", "\n", "\r\n", "\x00"], ids=["cr", "lf", "crlf", "nul"])


@BAD_CHARS
async def test_control_characters_in_a_new_username_are_422_and_create_nothing(
    admin_api: Api, admin: Account, bad: str
) -> None:
    await admin_api.login(admin)
    response = await admin_api.post(
        "/api/v1/admin/users",
        json={"username": f"bob{bad}x", "email": "bob@example.com", "password": PASSWORD},
    )
    assert_problem(response, 422)
    users = await admin_api.get("/api/v1/admin/users")
    assert [user["username"] for user in users.json()] == ["root"]


@BAD_CHARS
async def test_control_characters_in_an_api_key_description_are_422_and_create_nothing(
    user_api: Api, alice: Account, bad: str
) -> None:
    await user_api.login(alice)
    response = await user_api.post("/api/v1/account/api-keys", json={"description": f"deploy{bad}Injected: yes"})
    assert_problem(response, 422)
    assert (await user_api.get("/api/v1/account/api-keys")).json() == []


@BAD_CHARS
async def test_control_characters_in_an_ssh_key_name_are_422_and_create_nothing(
    user_api: Api, alice: Account, bad: str
) -> None:
    await user_api.login(alice)
    response = await user_api.post(
        "/api/v1/account/ssh-keys", json={"name": f"laptop{bad}evil", "public_key": ed25519_public_key()}
    )
    assert_problem(response, 422)
    assert (await user_api.get("/api/v1/account/ssh-keys")).json() == []


@BAD_CHARS
async def test_control_characters_in_an_email_are_422_and_change_nothing(
    user_api: Api, alice: Account, bad: str
) -> None:
    await user_api.login(alice)
    response = await user_api.put(
        "/api/v1/account/email", json={"email": f"alice@example.org{bad}Bcc: all@example.org", "password": PASSWORD}
    )
    assert_problem(response, 422)
    assert (await account_of(user_api))["email"] == "alice@example.com"


@BAD_CHARS
async def test_control_characters_in_profile_names_are_422_and_change_nothing(
    user_api: Api, alice: Account, bad: str
) -> None:
    await user_api.login(alice)
    before = await account_of(user_api)
    response = await user_api.patch("/api/v1/account", json={"first_name": f"Al{bad}ice", "last_name": "Liddell"})
    assert_problem(response, 422)
    assert await account_of(user_api) == before


@BAD_CHARS
async def test_control_characters_in_a_login_username_are_422(user_api: Api, alice: Account, bad: str) -> None:
    response = await user_api.post("/api/v1/auth/login", json={"username": f"alice{bad}", "password": PASSWORD})
    assert_problem(response, 422)


async def test_control_characters_in_an_in_process_header_value_are_400(user_api: Api) -> None:
    """The edge checks header values itself too, whatever the HTTP server in front let through."""

    async def send(value: bytes) -> httpx.Response:
        scope_headers = [(b"host", b"testserver"), (b"x-note", value)]
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def collect(message: Any) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/v1/health",
            "raw_path": b"/api/v1/health",
            "query_string": b"",
            "root_path": "",
            "headers": scope_headers,
            "client": ("203.0.113.7", 40000),
            "server": ("testserver", 80),
        }
        await user_api.app(scope, receive, collect)
        start = messages[0]
        body = b"".join(m.get("body", b"") for m in messages[1:])
        return httpx.Response(start["status"], headers=start["headers"], content=body)

    assert (await send(b"fine")).status_code == 200
    for bad in (b"a\rb", b"a\nb", b"a\x00b"):
        response = await send(bad)
        assert_problem(response, 400)
        assert_security_headers(response)


# --- the real server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def start_panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[bool], RunningPanel]]:
    """Runs `hostplane init` then `hostplane serve` in a subprocess; stops every server it started."""
    with launched_panels(tmp_path_factory) as start:
        yield start


@pytest.fixture(scope="module")
def plain_panel(start_panel: Callable[[bool], RunningPanel]) -> RunningPanel:
    return start_panel(True)


def raw_request(port: int, request: bytes) -> bytes:
    """Send bytes as they are and read the whole answer (the server closes or we time out)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return answer


def status_of(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


def healthy(panel: RunningPanel, port: int) -> bool:
    response = httpx.get(panel.url(port, "/api/v1/health"), timeout=5)
    return response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.integration  # a real `hostplane serve` in a subprocess
def test_the_real_server_serves_both_ports(plain_panel: RunningPanel) -> None:
    assert healthy(plain_panel, plain_panel.user_port)
    assert healthy(plain_panel, plain_panel.admin_port)


@pytest.mark.integration  # a real `hostplane serve` in a subprocess
def test_the_real_server_refuses_admin_routes_on_the_user_port(plain_panel: RunningPanel) -> None:
    login = httpx.post(
        plain_panel.url(plain_panel.admin_port, "/api/v1/auth/login"),
        json={"username": "admin", "password": plain_panel.admin_password},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    on_admin_port = httpx.get(plain_panel.url(plain_panel.admin_port, "/api/v1/admin/users"), headers=headers)
    assert on_admin_port.status_code == 200
    assert [user["username"] for user in on_admin_port.json()] == ["admin"]
    on_user_port = httpx.get(plain_panel.url(plain_panel.user_port, "/api/v1/admin/users"), headers=headers)
    assert_problem(on_user_port, 404)
    own_account = httpx.get(plain_panel.url(plain_panel.user_port, "/api/v1/account"), headers=headers)
    assert own_account.status_code == 200


@pytest.mark.integration  # a real `hostplane serve` in a subprocess
def test_the_real_server_answers_a_well_formed_raw_request(plain_panel: RunningPanel) -> None:
    answer = raw_request(
        plain_panel.user_port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Note: fine\r\nConnection: close\r\n\r\n"
    )
    assert status_of(answer) == 200


@pytest.mark.parametrize(
    "header",
    [b"X-Note: a\rb\r\n", b"X-Note: a\r\n folded\r\n", b"X-Note: a\r\n\tfolded\r\n", b"X-Note: a\x00b\r\n"],
    ids=["bare-cr", "obs-fold-space", "obs-fold-tab", "nul"],
)
@pytest.mark.integration  # a real `hostplane serve` in a subprocess
def test_the_real_server_refuses_smuggling_in_header_values_and_stays_healthy(
    plain_panel: RunningPanel, header: bytes
) -> None:
    request = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + header + b"Connection: close\r\n\r\n"
    assert status_of(raw_request(plain_panel.user_port, request)) == 400
    assert healthy(plain_panel, plain_panel.user_port)


@pytest.mark.integration  # a real `hostplane serve` in a subprocess
def test_the_real_server_refuses_an_oversized_streamed_body(plain_panel: RunningPanel) -> None:
    def chunks() -> Iterator[bytes]:  # the default limit of 1 MiB, plus one chunk
        for _ in range(1024 * 1024 // 4096 + 1):
            yield b"x" * 4096

    response = httpx.post(
        plain_panel.url(plain_panel.user_port, "/api/v1/auth/login"),
        content=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_problem(response, 413)
    assert healthy(plain_panel, plain_panel.user_port)


@pytest.mark.integration  # a real `hostplane serve` in a subprocess
def test_init_makes_a_certificate_and_serve_speaks_tls_with_it(
    start_panel: Callable[[bool], RunningPanel],
) -> None:
    panel = start_panel(False)
    certificate = panel.state_dir / "tls" / "panel.crt"
    assert certificate.is_file()
    assert (panel.state_dir / "tls" / "panel.key").stat().st_mode & 0o077 == 0
    context = ssl.create_default_context(cafile=str(certificate))
    for port in (panel.user_port, panel.admin_port):
        response = httpx.get(panel.url(port, "/api/v1/health"), verify=context, timeout=10)
        assert response.status_code == 200
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert_security_headers(response)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"https://127.0.0.1:{panel.user_port}/api/v1/health", timeout=10)  # default trust store: refused
    plain = raw_request(panel.user_port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert not plain.startswith(b"HTTP/1.1 200")
