"""`hostplane init`: the state folder, key file, database and first admin, each made once; bad settings exit 2
with a clear message and create nothing."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.unit.cli.helpers import call, flat, hostplane, init, token_of, usernames

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
