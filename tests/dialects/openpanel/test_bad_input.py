"""Bad bodies to OpenPanel's `POST /api/login` as an attacker would send them: OpenPanel's `{"error": ...}` with
400, never a 500 in another shape, and nothing changes (no session, no token, no activity)."""

from __future__ import annotations

import json

import pytest

from hostplane.runtime import Runtime
from tests.conftest import PASSWORD, Account, Api, row_counts

LOGIN = "/api/login"
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def deep_field(depth: int) -> bytes:
    return b'{"username": "alice", "password": ' + b"[" * depth + b'"x"' + b"]" * depth + b"}"


BAD_BODIES: dict[str, tuple[dict[str, str], bytes]] = {
    "deep-arrays": (JSON, b"[" * 5000 + b"]" * 5000),
    "deep-objects": (JSON, b'{"a":' * 5000 + b"1" + b"}" * 5000),
    "unclosed-arrays": (JSON, b"[" * 100_000),
    "deep-inside-a-field": (JSON, deep_field(3000)),
    "just-over-the-depth-limit": (JSON, deep_field(33)),
    "a-number-of-5000-digits": (JSON, b'{"username": "alice", "password": ' + b"9" * 5000 + b"}"),
    "a-number-for-the-password": (JSON, json.dumps({"username": "alice", "password": 12345678}).encode()),
    "null-everywhere": (JSON, b'{"username": null, "password": null}'),
    "not-utf8": (JSON, b'{"username": "\xff\xfe", "password": "x"}'),
    "a-form-instead-of-json": (
        {"Content-Type": "application/x-www-form-urlencoded"},
        f"username=alice&password={PASSWORD}".encode(),
    ),
    "no-content-type": ({}, json.dumps({"username": "alice", "password": PASSWORD}).encode()),
    "an-overlong-username": (JSON, json.dumps({"username": "a" * 255, "password": PASSWORD}).encode()),
    "a-key-twice": (JSON, b'{"username": "bob", "username": "alice", "password": "' + PASSWORD.encode() + b'"}'),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_a_bad_login_body_is_400_in_openpanel_shape_and_changes_nothing(
    user_api: Api, alice: Account, runtime: Runtime, case: str
) -> None:
    headers, content = BAD_BODIES[case]
    before = await row_counts(runtime)
    response = await user_api.post(LOGIN, headers=headers, content=content)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    assert await row_counts(runtime) == before


async def test_a_login_body_within_the_limits_still_logs_in(user_api: Api, alice: Account) -> None:
    response = await user_api.post(LOGIN, headers=JSON, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"token", "user_id", "expires_in"}


async def test_the_dashboard_ignores_a_deeply_nested_body(user_api: Api, alice: Account) -> None:
    token = await user_api.login(alice)
    response = await user_api.post(
        "/api/domains", headers={**JSON, "Authorization": f"Bearer {token}"}, content=b"[" * 5000 + b"]" * 5000
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Dashboard"


async def test_a_body_over_the_limit_is_413_in_openpanel_shape(user_api: Api, alice: Account, runtime: Runtime) -> None:
    before = await row_counts(runtime)
    content = json.dumps({"username": "alice", "password": "x" * runtime.settings.max_body_bytes}).encode()
    response = await user_api.post(LOGIN, headers=JSON, content=content)
    assert response.status_code == 413, response.text
    assert set(response.json()) == {"error"}
    assert await row_counts(runtime) == before


async def test_a_method_the_path_does_not_take_is_405_in_openpanel_shape(user_api: Api) -> None:
    response = await user_api.get(LOGIN)
    assert response.status_code == 405, response.text
    assert set(response.json()) == {"error"}
