"""Bad requests to cPanel's secure remote logins as an attacker would send them: `{status: 0, message:
"invalid_request", notice}` with 400, no cookie, and nothing changes (no session, no ticket, no activity)."""

from __future__ import annotations

from typing import Any

import pytest

from hostplane.app import create_app
from hostplane.runtime import Runtime
from tests.conftest import PASSWORD, Account, Api, row_counts
from tests.dialects.cpanel_sessions.sessions import refused

LOGIN = "/login/?login_only=1"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

BAD: dict[str, dict[str, Any]] = {
    "deep-json": {"content": b"[" * 5000 + b"]" * 5000, "headers": {"Content-Type": "application/json"}},
    "user-in-query-and-form": {"url": f"{LOGIN}&user=root", "data": {"user": "alice", "pass": PASSWORD}},
    "user-twice-in-the-form": {"content": f"user=root&user=alice&pass={PASSWORD}".encode(), "headers": FORM},
    "a-login-url-flag-that-is-no-flag": {"data": {"user": "alice", "pass": PASSWORD, "create_login_url": "maybe"}},
    "a-form-that-is-not-utf8": {"content": b"user=%ff&pass=x", "headers": FORM},
    "a-query-that-is-not-utf8": {"url": f"{LOGIN}&user=%ff", "data": {"pass": PASSWORD}},
    "a-field-name-with-a-newline": {"data": {"user": "alice", "pass": PASSWORD, "x\r\nSet-Cookie": "1"}},
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_a_bad_login_request_is_400_in_the_dialects_shape_and_changes_nothing(
    user_api: Api, alice: Account, runtime: Runtime, case: str
) -> None:
    request_args = dict(BAD[case])
    url = request_args.pop("url", LOGIN)
    before = await row_counts(runtime)
    refused(await user_api.post(url, **request_args), 400, "invalid_request")
    assert await row_counts(runtime) == before


@pytest.mark.parametrize("port", ["user", "admin", "webmail"])
async def test_a_body_over_the_limit_is_413_in_the_dialects_shape_on_every_port(
    user_api: Api, admin_api: Api, runtime: Runtime, port: str
) -> None:
    webmail = Api(create_app(runtime, "webmail"))
    api = {"user": user_api, "admin": admin_api, "webmail": webmail}[port]
    before = await row_counts(runtime)
    try:
        response = await api.post(LOGIN, data={"user": "alice", "pass": "x" * runtime.settings.max_body_bytes})
    finally:
        await webmail.aclose()
    refused(response, 413, "invalid_request")
    assert await row_counts(runtime) == before


async def test_a_method_a_session_path_does_not_take_is_refused_in_the_dialects_shape(user_api: Api) -> None:
    refused(await user_api.request("PUT", "/cpsess0123456789/anything"), 405, "invalid_request")
