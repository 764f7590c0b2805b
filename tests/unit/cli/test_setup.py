"""`hostplane init`: the state folder, key file, database and first admin, each made once; bad settings exit 2
with a clear message and create nothing."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from hostplane.system.opendkim import instance_id
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


# --- DKIM keys: a folder OpenDKIM accepts, wherever the state folder is -------------------------------------------


def test_init_under_tmp_says_where_the_dkim_keys_go_instead_of_the_state_folder(
    state_dir: Path, dkim_safe_root: Path
) -> None:
    init()
    again = hostplane("init")
    keys = dkim_safe_root / instance_id(state_dir) / "dkim"
    assert f"DKIM keys: {keys} (OpenDKIM would refuse them in the state folder: /tmp is writable by others)" in flat(
        again.stdout
    )
    assert not keys.exists()  # made when the first key is, root-owned 0755


@pytest.mark.parametrize("command", ["init", "serve"])
def test_a_dkim_key_folder_opendkim_would_refuse_stops_init_and_serve_with_one_line_and_the_fix(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    keys = state_dir.parent / "keys"
    monkeypatch.setenv("HOSTPLANE_DKIM_KEY_DIR", str(keys))
    result = hostplane(command)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert flat(result.stderr) == (
        f"OpenDKIM would refuse the keys in {keys} (HOSTPLANE_DKIM_KEY_DIR): /tmp is writable by others. Fix: set "
        "HOSTPLANE_DKIM_KEY_DIR to a folder owned by root that no other user can write to, nor any folder above it "
        "(or HOSTPLANE_DKIM_REQUIRE_SAFE_KEYS=false, for development only)."
    )
    assert not state_dir.exists() and not keys.exists()
