"""The examples of cPanel's "Guide to API Authentication - Secure Remote Logins"
(../shared/reference/cpanel-secure-remote-logins.txt), replayed in-process.

The document has no curl line: its example is a Perl script calling Cpanel::LogMeIn::get_loggedin_url() twice
(then printing `Location: $login_url` for the browser), a parameter example (`&goto_uri=/json-api/dummy/...`) and
the table of ports. Hostplane's counterpart of the subroutine is `hostplane.dialects.cpanel_sessions.client.
login_url` (same parameters, `password` for Perl's `pass`, same four return values); here it runs in a worker
thread with a transport that hands its HTTP request (`POST https://<hostname>:<port>/login/?login_only=1`) to the
in-process app of that port: 2083 cPanel (user port), 2087 WHM (admin port), 2096 Webmail. A browser then follows
the URL, as the script's `Location:` header makes it do.

Substituted: the credentials (XXXXXX), the host (the script's 'localhost', the table's example.com) and the
theme ($Cpanel::Config::Constants::DEFAULT_CPANEL_THEME is jupiter, the document's own examples use it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from hostplane.app import create_app
from hostplane.dialects.cpanel_sessions.client import LoginResult, login_url
from hostplane.runtime import Runtime
from tests.conftest import PEER, Account
from tests.dialects.cpanel_sessions.sessions import MAILBOX_PASSWORD, make_mailbox

THEME = "jupiter"
PORTS = {"cpanel": 2083, "whm": 2087, "webmail": 2096}
ROLES = {2083: "user", 2087: "admin", 2096: "webmail"}
COOKIES = {"cpanel": "cpsession", "whm": "whostmgrsession", "webmail": "webmailsession"}
SERVICE_NAMES = {"cpanel": "cpaneld", "whm": "whostmgrd", "webmail": "webmaild"}
TOKEN = re.compile(r"^/cpsess\d{10}$")


class PortBridge(httpx.BaseTransport):
    """A synchronous transport for the library (which runs in a worker thread): each request goes to the app of
    its URL's port, on the test's event loop; any other port is a refused connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, apps: dict[int, Any]) -> None:
        self.loop = loop
        self.apps = apps
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        app = self.apps.get(request.url.port or 443)
        if app is None:
            raise httpx.ConnectError("Connection refused", request=request)
        return asyncio.run_coroutine_threadsafe(self._send(app, request), self.loop).result(timeout=60)

    async def _send(self, app: Any, request: httpx.Request) -> httpx.Response:
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=request.read())
        answer = await httpx.ASGITransport(app=app, client=(PEER, 40000)).handle_async_request(forwarded)
        content = await answer.aread()
        headers = [(key, value) for key, value in answer.headers.multi_items() if key.lower() != "content-encoding"]
        return httpx.Response(answer.status_code, headers=headers, content=content)


@pytest.fixture
def apps(runtime: Runtime) -> dict[int, Any]:
    return {port: create_app(runtime, role) for port, role in ROLES.items()}


@pytest.fixture
async def bridge(apps: dict[int, Any]) -> PortBridge:
    return PortBridge(asyncio.get_running_loop(), apps)


@pytest.fixture
async def browser(apps: dict[int, Any]) -> AsyncIterator[Callable[[int], httpx.AsyncClient]]:
    """A fresh browser (its own cookie jar) talking to the app of one port."""
    opened: list[httpx.AsyncClient] = []

    def on(port: int) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[port], client=(PEER, 40000)))
        opened.append(client)
        return client

    yield on
    for client in opened:
        await client.aclose()


async def get_loggedin_url(bridge: PortBridge, **options: Any) -> LoginResult:
    """`Cpanel::LogMeIn::get_loggedin_url(%options)`, run as the library call it is (blocking, in a thread)."""
    result = await asyncio.to_thread(login_url, transport=bridge, **options)
    request = bridge.sent[-1]
    port = options.get("port") or PORTS.get(options["service"], 2083)
    assert (request.method, request.url.scheme, request.url.host) == ("POST", "https", options["hostname"])
    assert (request.url.port, request.url.path, request.url.query) == (port, "/login/", b"login_only=1")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    return result


async def follow(browser: httpx.AsyncClient, result: LoginResult, cookie: str) -> httpx.Response:
    """`print "Location: $login_url\\r\\n\\r\\n";`: the browser goes there, is logged in and sent on."""
    first = await browser.get(result.login_url)
    assert first.status_code == 302, first.text
    assert first.headers["set-cookie"].startswith(f"{cookie}=")
    assert first.headers["location"].startswith(result.security_token + "/")
    origin = result.login_url.split("/cpsess")[0]
    page = await browser.get(origin + first.headers["location"])
    assert page.status_code == 200, page.text
    return page


def login_ok(result: LoginResult, hostname: str, port: int) -> None:
    """The documented returns: login_ok 1, login_message "Login OK", login_url
    https://<hostname>:<port>/cpsess##########/..., and the security token."""
    login_ok_, login_message, url, security_token = result
    assert login_ok_ == 1 and login_ok_ is True
    assert login_message == "Login OK"
    assert isinstance(url, str) and isinstance(security_token, str)
    assert TOKEN.match(security_token)
    assert url.startswith(f"https://{hostname}:{port}{security_token}/")


async def test_the_example_script_first_call(
    bridge: PortBridge, browser: Callable[[int], httpx.AsyncClient], alice: Account
) -> None:
    """my ( $login_ok, $login_message, $login_url, $security_token ) =
    Cpanel::LogMeIn::get_loggedin_url(
    'user' => $user,
    'pass' => $pass,
    'hostname' => $host,
    'service' => $service,
    'goto_uri' => '/'
    );
    (with my $host = 'localhost'; my $service = 'cpanel';) then print "Location: $login_url\\r\\n\\r\\n";
    """
    result = await get_loggedin_url(
        bridge, user="alice", password=alice.password, hostname="localhost", service="cpanel", goto_uri="/"
    )
    login_ok(result, "localhost", 2083)
    visitor = browser(2083)
    page = await follow(visitor, result, "cpsession")
    assert page.json() == {
        "status": 1,
        "service": "cpaneld",
        "user": "alice",
        "security_token": result.security_token,
        "path": "/",
        "two_factor_setup_required": False,
    }
    replayed = await browser(2083).get(result.login_url)  # the URL logs in once
    assert replayed.status_code == 401
    assert "set-cookie" not in replayed.headers


async def test_the_example_script_second_call_reuses_the_token(
    bridge: PortBridge, browser: Callable[[int], httpx.AsyncClient], alice: Account
) -> None:
    """( $login_ok, $login_message, $login_url, $security_token ) =
    Cpanel::LogMeIn::get_loggedin_url(
    'active_token_for_reuse' => $security_token,
    'user' => $user,
    'pass' => $pass,
    'hostname' => $host,
    'service' => $service,
    'goto_uri' => '/frontend/' . $theme . '/domains/index.html'
    );
    """
    common = {"user": "alice", "password": alice.password, "hostname": "localhost", "service": "cpanel"}
    first = await get_loggedin_url(bridge, goto_uri="/", **common)
    await follow(browser(2083), first, "cpsession")
    second = await get_loggedin_url(
        bridge,
        active_token_for_reuse=first.security_token,
        goto_uri=f"/frontend/{THEME}/domains/index.html",
        **common,
    )
    login_ok(second, "localhost", 2083)
    assert second.security_token == first.security_token
    page = await follow(browser(2083), second, "cpsession")
    assert page.json()["path"] == "/frontend/jupiter/domains/index.html"
    assert page.json()["security_token"] == first.security_token


async def test_the_example_script_failure_branch(bridge: PortBridge, alice: Account) -> None:
    """else {
    print "Content-type: text/plain\\r\\n\\r\\n";
    print "LOGIN FAILED: $login_message\\n";
    }
    """
    for user, password in (("alice", "not-the-password"), ("nobody", alice.password)):
        result = await get_loggedin_url(
            bridge, user=user, password=password, hostname="localhost", service="cpanel", goto_uri="/"
        )
        assert tuple(result) == (False, "Login Invalid", "", "")


@pytest.mark.parametrize("service", ["cpanel", "whm", "webmail"])
async def test_each_service_of_the_parameters_table_on_its_port(
    bridge: PortBridge,
    browser: Callable[[int], httpx.AsyncClient],
    make_account: Callable[..., Any],
    runtime: Runtime,
    service: str,
) -> None:
    """Parameters: user "username", pass "123456luggage", hostname "example.com", service "cpanel whm webmail",
    goto_uri "/frontend/jupiter/park/index.html"; returns login_url
    "https://example.com:2083/cpsess##########/frontend/jupiter/park/index.html" (2083 cPanel, 2087 WHM,
    2096 Webmail: "2083 — Secure calls to cPanel's APIs", "2087 — Secure calls to WHM's APIs",
    "2096 — Secure calls to cPanel's APIs via a Webmail session").
    """
    role = "admin" if service == "whm" else "user"
    account: Account = await make_account("username", role=role)
    user, password = account.username, account.password
    if service == "webmail":
        await make_mailbox(runtime, account.user.id, "username@example.com")
        user, password = "username@example.com", MAILBOX_PASSWORD
    goto = f"/frontend/{THEME}/park/index.html"
    result = await get_loggedin_url(
        bridge, user=user, password=password, hostname="example.com", service=service, goto_uri=goto
    )
    login_ok(result, "example.com", PORTS[service])
    page = await follow(browser(PORTS[service]), result, COOKIES[service])
    assert page.json()["service"] == SERVICE_NAMES[service]
    assert page.json()["user"] == user
    assert page.json()["path"] == goto


async def test_the_recommended_json_api_dummy_goto_uri(
    bridge: PortBridge, browser: Callable[[int], httpx.AsyncClient], alice: Account
) -> None:
    """The goto_uri parameter: "we recommend that you append the /json-api/dummy string to your goto_uri
    parameter. For example: &goto_uri=/json-api/dummy/frontend/jupiter/park/index.html"
    """
    goto = "/json-api/dummy/frontend/jupiter/park/index.html"
    result = await get_loggedin_url(
        bridge, user="alice", password=alice.password, hostname="localhost", service="cpanel", goto_uri=goto
    )
    login_ok(result, "localhost", 2083)
    assert "goto_uri=%2Fjson-api%2Fdummy%2Ffrontend%2Fjupiter%2Fpark%2Findex.html" in result.login_url
    page = await follow(browser(2083), result, "cpsession")
    assert page.json()["path"] == goto


async def test_a_call_on_an_incorrect_port_is_refused(
    bridge: PortBridge, browser: Callable[[int], httpx.AsyncClient], alice: Account, admin: Account
) -> None:
    """Important: "API calls that use a method that includes a URL must use the correct port ... Otherwise-correct
    calls will return Permission denied or Function not found errors if they use an incorrect port number."

    A WHM API 1 call (the WHM reference's twofactorauth_get_issuer, sent as it writes it) answers on 2087 and is
    "Function not found" on 2083 and 2096; a cPanel user's login sent to the WHM port is refused.
    """
    wrong = await get_loggedin_url(
        bridge, user="alice", password=alice.password, hostname="localhost", service="cpanel", port=2087
    )
    assert tuple(wrong) == (False, "Login Invalid", "", "")
    basic = httpx.BasicAuth(admin.username, admin.password)
    for port in (2083, 2096):
        response = await browser(port).get(f"https://localhost:{port}/json-api/twofactorauth_get_issuer", auth=basic)
        assert response.status_code == 404
        assert response.json()["cpanelresult"]["error"] == "Function not found"
    right = await browser(2087).get("https://localhost:2087/json-api/twofactorauth_get_issuer", auth=basic)
    assert right.status_code == 200
    assert right.json()["metadata"]["result"] == 1
