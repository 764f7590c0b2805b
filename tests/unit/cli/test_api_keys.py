"""`hostplane api-key create`: a token printed once that authenticates with its scopes and addresses; bad input
exits non-zero and creates nothing."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import PASSWORD
from tests.unit.cli.helpers import call, flat, hostplane, init, token_of

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
