"""The remote-login library call and `hostplane login-url` against a real `hostplane serve` over sockets, as
cPanel's LogMeIn example uses them: a one-time login URL a browser follows once, a token reused while valid."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hostplane.dialects.cpanel_sessions.client import LoginResult, login_url
from tests.live_server import HOSTPLANE, RunningPanel, free_port, panel_env, wait_until_serving

pytestmark = pytest.mark.integration  # a real `hostplane serve` in a subprocess, over sockets


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPanel]:
    """init, then serve on free ports, plain HTTP."""
    home = tmp_path_factory.mktemp("panel")
    state_dir = home / "state"
    ports = [free_port(), free_port(), free_port()]
    env = panel_env(state_dir, ports[0], ports[1], plain_http=True, webmail_port=ports[2])
    init = subprocess.run([str(HOSTPLANE), "init"], cwd=home, env=env, capture_output=True, text=True, check=False)
    assert init.returncode == 0, init.stderr
    password = re.search(r"password: (\S+)", init.stdout)
    assert password
    log = home / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(HOSTPLANE), "serve", "--log-level", "warning"], cwd=home, env=env, stdout=output, stderr=output
        )
    try:
        wait_until_serving(process, ports, log)
        yield RunningPanel(ports[0], ports[1], password.group(1), state_dir, "http", ports[2])
    finally:
        process.terminate()
        process.wait(timeout=15)


def remote(panel: RunningPanel, **overrides: object) -> LoginResult:
    arguments: dict[str, object] = {
        "user": "admin",
        "password": panel.admin_password,
        "hostname": "127.0.0.1",
        "service": "whm",
        "goto_uri": "/",
        "port": panel.admin_port,
        "plain_http": True,
    }
    arguments.update(overrides)
    return login_url(**arguments)  # type: ignore[arg-type]


def follow(url: str) -> httpx.Response:
    """A browser's visit of the login URL: the redirect with the cookie, then the page under the token."""
    with httpx.Client() as browser:
        first = browser.get(url)
        assert first.status_code == 302, first.text
        assert "HttpOnly" in first.headers["set-cookie"]
        return browser.get(url.split("/cpsess")[0] + first.headers["location"])


def test_the_reference_example_logs_in_and_the_url_works_once(panel: RunningPanel) -> None:
    login_ok, login_message, url, security_token = remote(panel)
    assert (login_ok, login_message) == (True, "Login OK")
    assert re.fullmatch(r"/cpsess\d{10}", security_token)
    assert url.startswith(f"http://127.0.0.1:{panel.admin_port}{security_token}/login/?session=")
    page = follow(url)
    assert page.status_code == 200
    assert page.json()["user"] == "admin"
    assert page.json()["service"] == "whostmgrd"
    assert httpx.get(url).status_code == 401


def test_the_second_call_of_the_reference_reuses_the_still_valid_token(panel: RunningPanel) -> None:
    first = remote(panel)
    follow(first.login_url)
    second = remote(panel, active_token_for_reuse=first.security_token, goto_uri="/frontend/jupiter/domains/index.html")
    assert second.login_ok
    assert second.security_token == first.security_token
    assert follow(second.login_url).json()["path"] == "/frontend/jupiter/domains/index.html"
    unknown = "/cpsess" + ("1" if first.security_token[-1] != "1" else "2") * 10
    assert remote(panel, active_token_for_reuse=unknown).security_token != unknown


def test_failures_are_reported_not_raised(panel: RunningPanel) -> None:
    assert tuple(remote(panel, password="not-the-password")) == (False, "Login Invalid", "", "")
    wrong_port = remote(panel, service="cpanel", port=panel.user_port)  # an administrator is not a cPanel user
    assert (wrong_port.login_ok, wrong_port.login_message) == (False, "Login Invalid")
    unreachable = remote(panel, port=free_port())
    assert not unreachable.login_ok
    assert "failed" in unreachable.login_message
    assert not remote(panel, service="ftp").login_ok


def test_the_cli_prints_the_four_values(panel: RunningPanel, tmp_path: Path) -> None:
    env = {"HOSTPLANE_LOGIN_PASSWORD": panel.admin_password, "PATH": "/usr/bin:/bin"}
    argv = [
        str(HOSTPLANE), "login-url", "--user", "admin", "--hostname", "127.0.0.1", "--service", "whm",
        "--port", str(panel.admin_port), "--plain-http", "--goto-uri", "/",
    ]  # fmt: skip
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) == {"login_ok", "login_message", "login_url", "security_token"}
    assert printed["login_ok"] == 1
    assert panel.admin_password not in result.stdout + result.stderr
    assert follow(printed["login_url"]).json()["user"] == "admin"
    reused = subprocess.run(
        [*argv, "--active-token-for-reuse", printed["security_token"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert json.loads(reused.stdout)["security_token"] == printed["security_token"]
    env["HOSTPLANE_LOGIN_PASSWORD"] = "not-the-password"
    failed = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode == 1
    assert json.loads(failed.stdout) == {
        "login_ok": 0,
        "login_message": "Login Invalid",
        "login_url": "",
        "security_token": "",
    }


def test_the_webmail_port_serves_only_the_logins(panel: RunningPanel) -> None:
    assert httpx.get(f"http://127.0.0.1:{panel.webmail_port}/api/v1/account").status_code == 404
    answer = httpx.post(
        f"http://127.0.0.1:{panel.webmail_port}/login/?login_only=1", data={"user": "a@b.example", "pass": "x"}
    )
    assert answer.status_code == 401
    assert answer.json()["message"] == "invalid_login"
