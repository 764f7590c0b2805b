"""WHM API 1 `create_user_session`: sent as WHM's documentation shows it, a one-time login URL for cpaneld,
whostmgrd or webmaild that logs in once on its own service's port, then never again, and expires unused."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hostplane.app import create_app
from hostplane.runtime import Runtime
from tests.conftest import Account, Api
from tests.dialects.cpanel_sessions.sessions import (
    expire_tickets,
    make_mailbox,
    refused,
)
from tests.dialects.whm.whmapi import SESSION_PREFIX, assert_access_denied, basic, call, envelope

FUNCTION = "create_user_session"


@pytest.fixture
async def webmail_api(runtime: Runtime) -> AsyncIterator[Api]:
    api = Api(create_app(runtime, "webmail"))
    yield api
    await api.aclose()


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def created(api: Api, admin: Account, **params: str) -> dict[str, Any]:
    data: dict[str, Any] = envelope(await call(api, FUNCTION, basic(admin), **params), FUNCTION)["data"]
    return data


async def test_the_documented_call_returns_a_one_time_url(
    admin_api: Api, admin: Account, alice: Account, runtime: Runtime
) -> None:
    response = await admin_api.get(f"{SESSION_PREFIX}/json-api/{FUNCTION}?api.version=1&user=alice&service=cpaneld")
    assert_access_denied(response)  # the documented path needs credentials like any other
    response = await admin_api.get(
        f"/json-api/{FUNCTION}?api.version=1&user=alice&service=cpaneld", headers=basic(admin)
    )
    data = envelope(response, FUNCTION)["data"]
    assert set(data) == {"cp_security_token", "expires", "service", "session", "url"}
    assert re.fullmatch(r"/cpsess\d{10}", data["cp_security_token"])
    assert isinstance(data["expires"], int)
    assert data["service"] == "cpaneld"
    assert data["session"].startswith("alice:")
    url = urllib.parse.urlsplit(data["url"])
    assert (url.scheme, url.hostname, url.port) == ("http", "localhost", runtime.settings.user_port)  # plain_http
    assert url.path == f"{data['cp_security_token']}/login/"
    assert urllib.parse.parse_qs(url.query)["session"] == [data["session"]]


async def test_the_url_logs_in_once_then_never_again(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    data = await created(admin_api, admin, user="alice", service="cpaneld", goto_uri="/frontend/jupiter/index.html")
    first = await user_api.get(path_of(data["url"]))
    assert first.status_code == 302, first.text
    assert first.headers["location"] == f"{data['cp_security_token']}/frontend/jupiter/index.html"
    assert first.headers["set-cookie"].startswith("cpsession=")
    page = await user_api.get(first.headers["location"])
    assert page.json()["user"] == "alice"
    user_api.http.cookies.clear()
    refused(await user_api.get(path_of(data["url"])), 401, "invalid_login")


async def test_an_unused_url_expires(
    admin_api: Api, user_api: Api, admin: Account, alice: Account, runtime: Runtime
) -> None:
    data = await created(admin_api, admin, user="alice", service="cpaneld")
    await expire_tickets(runtime)
    refused(await user_api.get(path_of(data["url"])), 401, "invalid_login")


async def test_a_url_works_only_on_its_own_services_port(
    admin_api: Api, user_api: Api, webmail_api: Api, admin: Account, alice: Account
) -> None:
    data = await created(admin_api, admin, user="alice", service="cpaneld")
    refused(await admin_api.get(path_of(data["url"])), 401, "invalid_login")
    refused(await webmail_api.get(path_of(data["url"])), 401, "invalid_login")
    other_token = "/cpsess" + ("1" if data["cp_security_token"][-1] != "1" else "2") * 10
    refused(
        await user_api.get(path_of(data["url"]).replace(data["cp_security_token"], other_token)), 401, "invalid_login"
    )


async def test_a_whostmgrd_session_calls_whm_with_the_cookie_and_the_token_only(admin_api: Api, admin: Account) -> None:
    data = await created(admin_api, admin, user="root", service="whostmgrd")
    assert f":{admin_api.app.state.runtime.settings.admin_port}/" in data["url"]
    assert (await admin_api.get(path_of(data["url"]))).headers["set-cookie"].startswith("whostmgrsession=")
    token = data["cp_security_token"]
    status = "twofactorauth_policy_status"
    envelope(await call(admin_api, status, {}, prefix=token), status)
    assert_access_denied(await call(admin_api, status, {}))  # the cookie without the token
    assert_access_denied(await call(admin_api, status, {}, prefix=SESSION_PREFIX))  # with another token
    admin_api.http.cookies.clear()
    assert_access_denied(await call(admin_api, status, {}, prefix=token))  # the token without the cookie


async def test_a_webmaild_url_logs_a_mailbox_in_to_webmail(
    admin_api: Api, webmail_api: Api, admin: Account, alice: Account, runtime: Runtime
) -> None:
    await make_mailbox(runtime, alice.user.id, "info@shop.example")
    data = await created(admin_api, admin, user="info@shop.example", service="webmaild")
    assert f":{runtime.settings.webmail_port}/" in data["url"]
    response = await webmail_api.get(path_of(data["url"]))
    assert response.status_code == 302
    page = await webmail_api.get(response.headers["location"])
    assert page.json()["user"] == "info@shop.example"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"service": "cpaneld"}, "“user”"),
        ({"user": "alice"}, "“service”"),
        ({"user": "alice", "service": "ftpd"}, "cpaneld, whostmgrd, webmaild"),
        ({"user": "nobody", "service": "cpaneld"}, "does not exist"),
        ({"user": "root", "service": "cpaneld"}, "not a hosting user"),
        ({"user": "alice", "service": "whostmgrd"}, "not an administrator"),
        ({"user": "nobody@shop.example", "service": "webmaild"}, "No mailbox"),
        ({"user": "alice\r\nx", "service": "cpaneld"}, "control characters"),
        ({"user": "alice", "service": "cpaneld", "goto_uri": "//evil.example/"}, "goto_uri"),
        ({"user": "alice", "service": "cpaneld", "app": "<script>"}, "“app”"),
        ({"user": "alice", "service": "cpaneld", "preferred_domain": "not a host"}, "domain"),
    ],
)
async def test_bad_calls_fail_in_the_envelope(
    admin_api: Api, admin: Account, alice: Account, params: dict[str, str], reason: str
) -> None:
    body = envelope(await call(admin_api, FUNCTION, basic(admin), **params), FUNCTION, result=0)
    assert reason in body["metadata"]["reason"], body


async def test_a_disabled_user_gets_no_session(admin_api: Api, admin: Account, alice: Account) -> None:
    await admin_api.login(admin)
    assert (await admin_api.post(f"/api/v1/admin/users/{alice.user.id}/disable")).status_code == 200
    body = envelope(await call(admin_api, FUNCTION, basic(admin), user="alice", service="cpaneld"), FUNCTION, result=0)
    assert "disabled" in body["metadata"]["reason"]


async def test_only_administrators_may_create_sessions(admin_api: Api, alice: Account) -> None:
    assert_access_denied(await call(admin_api, FUNCTION, basic(alice), user="alice", service="cpaneld"))
