"""The `hostplane` command: init (once), users and API keys, checked through the API of a runtime built from the
same settings, and bad input that exits non-zero with a clear message and creates nothing."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from click.testing import Result
from typer.testing import CliRunner

from hostplane.app import create_app
from hostplane.cli import app
from hostplane.runtime import build_runtime
from hostplane.settings import load_settings
from tests.conftest import PASSWORD, PEER

runner = CliRunner()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state folder in the environment, and nothing else of the caller's HOSTPLANE_ settings."""
    for name in [key for key in os.environ if key.startswith("HOSTPLANE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    monkeypatch.setenv("HOSTPLANE_STATE_DIR", str(state))
    monkeypatch.setenv("HOSTPLANE_PLAIN_HTTP", "true")
    monkeypatch.setenv("HOSTPLANE_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("HOSTPLANE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("HOSTPLANE_MANAGE_SYSTEM_USERS", "false")  # no Linux accounts from CLI tests
    return state


def hostplane(*args: str) -> Result:
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    """The output with line wrapping undone, so messages can be matched whole."""
    return " ".join(text.split())


def init() -> str:
    """Run `hostplane init` on a fresh state folder and return the admin password it printed."""
    result = hostplane("init")
    assert result.exit_code == 0, result.output
    match = re.search(r"password: (\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


async def _call(method: str, path: str, *, token: str | None = None, json: Any = None) -> httpx.Response:
    runtime = build_runtime(load_settings())
    try:
        transport = httpx.ASGITransport(app=create_app(runtime, "admin"), client=(PEER, 40000))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, headers=headers, json=json)
    finally:
        await runtime.close()


def call(method: str, path: str, *, token: str | None = None, json: Any = None) -> httpx.Response:
    """One request to the admin port's app on a runtime built from the environment's settings."""
    return asyncio.run(_call(method, path, token=token, json=json))


def login(username: str, password: str) -> httpx.Response:
    return call("POST", "/api/v1/auth/login", json={"username": username, "password": password})


def token_of(username: str, password: str) -> str:
    response = login(username, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def usernames() -> list[str]:
    result = hostplane("user", "list")
    assert result.exit_code == 0, result.output
    return re.findall(r"│\s*\d+\s*│\s*(\S+)\s*│", result.stdout)


# --- init --------------------------------------------------------------------------------------------


def test_init_creates_the_state_and_prints_the_admin_password_once(state_dir: Path) -> None:
    password = init()
    assert (state_dir / "hostplane.db").is_file()
    assert stat.S_IMODE((state_dir / "hostplane.db").stat().st_mode) == 0o600
    key_file = state_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    for path in state_dir.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path

    again = hostplane("init")
    assert again.exit_code == 0, again.output
    assert "password:" not in again.stdout
    assert "exists already" in flat(again.stdout)
    assert usernames() == ["admin"]


def test_a_second_init_keeps_the_key_file(state_dir: Path) -> None:
    init()
    key = (state_dir / "secret.key").read_bytes()
    assert hostplane("init").exit_code == 0
    assert (state_dir / "secret.key").read_bytes() == key


def test_the_password_printed_by_init_logs_in_as_admin(state_dir: Path) -> None:
    password = init()
    token = token_of("admin", password)
    account = call("GET", "/api/v1/account", token=token)
    assert account.status_code == 200
    assert (account.json()["username"], account.json()["role"]) == ("admin", "admin")
    assert call("GET", "/api/v1/admin/users", token=token).status_code == 200


def test_init_takes_the_admin_name_and_email(state_dir: Path) -> None:
    result = hostplane("init", "--admin-username", "chief", "--admin-email", "chief@example.com")
    assert result.exit_code == 0, result.output
    password = re.search(r"password: (\S+)", result.stdout)
    assert password
    account = call("GET", "/api/v1/account", token=token_of("chief", password.group(1)))
    assert account.json()["email"] == "chief@example.com"


def test_bad_settings_exit_with_a_clear_message(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTPLANE_USER_PORT", "2087")
    monkeypatch.setenv("HOSTPLANE_ADMIN_PORT", "2087")
    result = hostplane("init")
    assert result.exit_code == 2
    assert "user_port and admin_port must differ" in flat(result.stderr)
    assert not (state_dir / "hostplane.db").exists()


# --- users -------------------------------------------------------------------------------------------


def test_user_create_with_a_password_then_list(state_dir: Path) -> None:
    init()
    result = hostplane(
        "user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD, "--first-name", "Bob"
    )
    assert result.exit_code == 0, result.output
    assert "Created user bob" in result.stdout
    assert PASSWORD not in result.output
    assert usernames() == ["admin", "bob"]
    listed = hostplane("user", "list").stdout
    assert "bob@example.com" in listed
    account = call("GET", "/api/v1/account", token=token_of("bob", PASSWORD)).json()
    assert (account["role"], account["first_name"]) == ("user", "Bob")


def test_user_create_with_a_generated_password(state_dir: Path) -> None:
    init()
    result = hostplane("user", "create", "carol", "--email", "carol@example.com", "--generate-password")
    assert result.exit_code == 0, result.output
    match = re.search(r"Password \(shown once\): (\S+)", result.stdout)
    assert match, result.stdout
    assert len(match.group(1)) >= 20
    assert login("carol", match.group(1)).status_code == 200


def test_user_create_makes_an_admin_on_request(state_dir: Path) -> None:
    init()
    result = hostplane("user", "create", "ops", "--email", "ops@example.com", "--password", PASSWORD, "--role", "admin")
    assert result.exit_code == 0, result.output
    assert call("GET", "/api/v1/admin/users", token=token_of("ops", PASSWORD)).status_code == 200


def test_user_set_password_changes_it_and_ends_the_sessions(state_dir: Path) -> None:
    init()
    hostplane("user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD)
    token = token_of("bob", PASSWORD)
    result = hostplane("user", "set-password", "bob", "--password", "A-new-Passw0rd-for-bob")
    assert result.exit_code == 0, result.output
    assert call("GET", "/api/v1/account", token=token).status_code == 401
    assert login("bob", PASSWORD).status_code == 401
    assert login("bob", "A-new-Passw0rd-for-bob").status_code == 200


def test_user_set_password_can_generate_one(state_dir: Path) -> None:
    init()
    hostplane("user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD)
    result = hostplane("user", "set-password", "bob", "--generate-password")
    assert result.exit_code == 0, result.output
    match = re.search(r"Password \(shown once\): (\S+)", result.stdout)
    assert match
    assert login("bob", match.group(1)).status_code == 200


def test_user_disable_and_enable(state_dir: Path) -> None:
    init()
    hostplane("user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD)
    token = token_of("bob", PASSWORD)
    disabled = hostplane("user", "disable", "bob")
    assert disabled.exit_code == 0, disabled.output
    assert call("GET", "/api/v1/account", token=token).status_code == 401
    assert login("bob", PASSWORD).status_code == 401
    assert re.search(r"bob\s*│.*│\s*yes\s*│", hostplane("user", "list").stdout)
    enabled = hostplane("user", "enable", "bob")
    assert enabled.exit_code == 0, enabled.output
    assert login("bob", PASSWORD).status_code == 200


def test_user_reset_2fa_lets_the_user_log_in_with_the_password_alone(state_dir: Path) -> None:
    init()
    hostplane("user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD)
    token = token_of("bob", PASSWORD)
    setup = call("POST", "/api/v1/account/two-factor/setup", token=token)
    assert setup.status_code == 200, setup.text
    code = pyotp.TOTP(setup.json()["secret"]).now()
    enabled = call("POST", "/api/v1/account/two-factor", token=token, json={"code": code, "password": PASSWORD})
    assert enabled.status_code == 200, enabled.text
    assert login("bob", PASSWORD).json().get("two_factor_required") is True

    result = hostplane("user", "reset-2fa", "bob")
    assert result.exit_code == 0, result.output
    assert "token" in login("bob", PASSWORD).json()
    assert call("GET", "/api/v1/account", token=token).status_code == 401


# --- API keys ----------------------------------------------------------------------------------------


def test_api_key_create_prints_a_token_that_authenticates(state_dir: Path) -> None:
    init()
    hostplane("user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD)
    result = hostplane("api-key", "create", "bob", "--description", "deploy")
    assert result.exit_code == 0, result.output
    match = re.search(r"^(hp_\S+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    token = match.group(1)
    assert len(token) == 3 + 16 + 32
    account = call("GET", "/api/v1/account", token=token)
    assert account.status_code == 200
    assert account.json()["username"] == "bob"
    keys = call("GET", "/api/v1/account/api-keys", token=token_of("bob", PASSWORD)).json()
    assert [(key["description"], key["identifier"]) for key in keys] == [("deploy", token[3:19])]


def test_api_key_create_honours_scopes_and_allowed_addresses(state_dir: Path) -> None:
    init()
    hostplane("user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD)
    read_only = hostplane("api-key", "create", "bob", "--scope", "account:read")
    token = re.search(r"^(hp_\S+)$", read_only.stdout, re.MULTILINE)
    assert token
    assert call("GET", "/api/v1/account", token=token.group(1)).status_code == 200
    assert call("PATCH", "/api/v1/account", token=token.group(1), json={"first_name": "X"}).status_code == 403
    elsewhere = hostplane("api-key", "create", "bob", "--allow-ip", "192.0.2.0/24", "--expires-in-days", "7")
    other = re.search(r"^(hp_\S+)$", elsewhere.stdout, re.MULTILINE)
    assert other
    assert call("GET", "/api/v1/account", token=other.group(1)).status_code == 403


def test_api_key_create_refuses_bad_input(state_dir: Path) -> None:
    init()
    hostplane("user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD)
    for args in (["--allow-ip", "not-an-ip"], ["--scope", "everything"], ["--description", "a\nb"]):
        result = hostplane("api-key", "create", "bob", *args)
        assert result.exit_code == 1, (args, result.output)
        assert "hp_" not in result.stdout
    unknown = hostplane("api-key", "create", "nobody")
    assert unknown.exit_code == 1
    assert "No user named 'nobody'" in flat(unknown.stderr)
    assert call("GET", "/api/v1/account/api-keys", token=token_of("bob", PASSWORD)).json() == []


# --- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["ab", "1bob", "Bob Smith", "bob;id", "b" * 33])
def test_a_bad_username_exits_non_zero_and_creates_nothing(state_dir: Path, username: str) -> None:
    init()
    result = hostplane("user", "create", username, "--email", "x@example.com", "--password", PASSWORD)
    assert result.exit_code == 1, result.output
    assert "A username is 3 to 32 characters" in flat(result.stderr)
    assert usernames() == ["admin"]


@pytest.mark.parametrize(
    ("password", "message"),
    [("password1", "too common"), ("short", "at least 8 characters"), ("bobsmith", "too common")],
)
def test_a_weak_password_exits_non_zero_and_creates_nothing(state_dir: Path, password: str, message: str) -> None:
    init()
    result = hostplane("user", "create", "bobsmith", "--email", "bob@example.com", "--password", password)
    assert result.exit_code == 1, result.output
    assert message in flat(result.stderr)
    assert usernames() == ["admin"]


def test_a_weak_new_password_exits_non_zero_and_keeps_the_old_one(state_dir: Path) -> None:
    init()
    hostplane("user", "create", "bob", "--email", "bob@example.com", "--password", PASSWORD)
    result = hostplane("user", "set-password", "bob", "--password", "iloveyou")
    assert result.exit_code == 1
    assert "too common" in flat(result.stderr)
    assert login("bob", PASSWORD).status_code == 200


def test_bad_email_role_or_duplicate_exit_non_zero_and_create_nothing(state_dir: Path) -> None:
    init()
    cases = [
        (["bob", "--email", "not-an-email"], "valid email"),
        (["bob", "--email", "bob@example.com", "--role", "root"], "'admin' or 'user'"),
        (["admin", "--email", "other@example.com"], "already exists"),
        (["bob", "--email", "admin@hostplane.localhost"], "already exists"),
    ]
    for args, message in cases:
        result = hostplane("user", "create", *args, "--password", PASSWORD)
        assert result.exit_code == 1, (args, result.output)
        assert message in flat(result.stderr), (args, result.stderr)
    assert usernames() == ["admin"]


@pytest.mark.parametrize("command", [["set-password", "--password", PASSWORD], ["disable"], ["enable"], ["reset-2fa"]])
def test_commands_on_an_unknown_user_exit_non_zero(state_dir: Path, command: list[str]) -> None:
    init()
    result = hostplane("user", command[0], "nobody", *command[1:])
    assert result.exit_code == 1
    assert "No user named 'nobody'" in flat(result.stderr)
