"""The remote-login call of cPanel's Cpanel::LogMeIn `get_loggedin_url`, over HTTP against any Hostplane: the
library call behind `hostplane login-url` (and re-exported by the cPanel sessions dialect as its client).

    login_ok, login_message, login_url, security_token = login_url(
        user="alice", password="...", hostname="panel.example.com", service="cpanel", goto_uri="/"
    )

It posts the credentials to the service's `/login/?login_only=1` asking for a one-time login URL
(`create_login_url=1`); the URL logs a browser in once and goes on to `goto_uri`. Given
`active_token_for_reuse`, the server keeps that security token while one of the account's sessions of the
service still holds it (otherwise a new one is made). Failures never raise: `login_ok` is False and
`login_message` says why.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx

SERVICES = {"cpanel": "cpaneld", "whm": "whostmgrd", "webmail": "webmaild"}
SECURE_PORTS = {"cpanel": 2083, "whm": 2087, "webmail": 2096}
PLAIN_PORTS = {"cpanel": 2082, "whm": 2086, "webmail": 2095}
MESSAGES = {
    "invalid_login": "Login Invalid",
    "tfa_required": "Two-factor authentication code required (tfa_token)",
    "tfa_invalid": "Two-factor authentication code invalid",
    "too_many_attempts": "Too many failed attempts; try again later",
}


@dataclass(frozen=True)
class LoginResult:
    login_ok: bool
    login_message: str
    login_url: str
    security_token: str

    def __iter__(self) -> Any:
        """Unpacks like LogMeIn's list: `(login_ok, login_message, login_url, security_token)`."""
        return iter((self.login_ok, self.login_message, self.login_url, self.security_token))


def login_url(
    user: str,
    password: str,
    hostname: str,
    service: str,
    goto_uri: str = "/",
    active_token_for_reuse: str | None = None,
    *,
    port: int | None = None,
    plain_http: bool = False,
    tfa_token: str | None = None,
    connect_host: str | None = None,
    verify: bool | str | ssl.SSLContext = True,
    timeout: float = 15.0,
    transport: httpx.BaseTransport | None = None,
) -> LoginResult:
    """Log `user` in to `service` (cpanel, whm or webmail) on `hostname` and return a one-time login URL.

    `port` defaults to cPanel's port of the service (2083/2087/2096, or 2082/2086/2095 with `plain_http`);
    `connect_host` is where to connect when it differs from the host name in the URL; `verify` is httpx's
    (a CA bundle path, an SSLContext, or False for none); `transport` replaces httpx's network transport (a proxy,
    a Unix socket, or an in-process app in tests)."""
    if service not in SERVICES:
        return LoginResult(False, f"Unknown service {service!r}: use one of {', '.join(SERVICES)}", "", "")
    scheme = "http" if plain_http else "https"
    port = port or (PLAIN_PORTS if plain_http else SECURE_PORTS)[service]
    base = f"{scheme}://{connect_host or hostname}:{port}"
    form = {"user": user, "pass": password, "goto_uri": goto_uri or "/", "create_login_url": "1"}
    if active_token_for_reuse:
        form["active_token_for_reuse"] = active_token_for_reuse
    if tfa_token:
        form["tfa_token"] = tfa_token
    try:
        with httpx.Client(verify=verify, timeout=timeout, follow_redirects=False, transport=transport) as http:
            response = http.post(f"{base}/login/", params={"login_only": "1"}, data=form)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return LoginResult(False, f"The login request failed: {exc.__class__.__name__}: {exc}", "", "")
    if not isinstance(body, dict):
        return LoginResult(False, "The server's answer was not a login result", "", "")
    if response.status_code == 200 and body.get("status") == 1:
        token = str(body.get("security_token", ""))
        return LoginResult(True, "Login OK", f"{scheme}://{hostname}:{port}{body.get('redirect', '/')}", token)
    message = str(body.get("message", ""))
    return LoginResult(False, MESSAGES.get(message, str(body.get("notice") or message or "Login failed")), "", "")
