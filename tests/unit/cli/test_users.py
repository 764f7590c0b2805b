"""`hostplane user ...`: users created, listed, changed, disabled and reset, checked through the API of a runtime
built from the same settings; bad input exits non-zero with a clear message and creates nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest

from tests.conftest import PASSWORD
from tests.unit.cli.helpers import call, flat, hostplane, init, login, token_of, usernames

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
