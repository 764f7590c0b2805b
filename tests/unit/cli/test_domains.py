"""The CLI keeps a name with one account too: `domain add` and `mail domain add` of a name another user holds (or
a name above or below it) exit 1 with the one refusal that names nobody, and `domain move` gives a domain with what
its owner holds below it to another user, files included, respecting the new owner's limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.unit.cli.helpers import flat, hostplane, init

NOT_AVAILABLE = "This domain name is not available."


def ok(*args: str) -> str:
    result = hostplane(*args)
    assert result.exit_code == 0, result.output
    return flat(result.output)


def fails(*args: str) -> str:
    result = hostplane(*args)
    assert result.exit_code == 1, result.output
    return flat(result.output)


@pytest.fixture
def users(state_dir: Path) -> Path:
    init()
    for name in ("alice", "bob"):
        ok("user", "create", name, "--email", f"{name}@example.com", "--password", PASSWORD)
    return state_dir


def test_a_name_another_user_holds_is_not_available_as_a_website_or_a_mail_domain(users: Path) -> None:
    ok("domain", "add", "example.com", "--user", "alice")
    ok("mail", "domain", "add", "mail.test", "--user", "alice")
    for command in (("domain", "add"), ("mail", "domain", "add")):
        for name in ("example.com", "www.example.com", "mail.test", "in.mail.test"):
            refused = fails(*command, name, "--user", "bob")
            assert NOT_AVAILABLE in refused
            assert "alice" not in refused
    assert "example.com" not in ok("domain", "list", "--user", "bob")
    assert "mail.test" not in ok("mail", "domain", "list", "--user", "bob")
    assert "already exists" in fails("domain", "add", "example.com", "--user", "alice")
    ok("domain", "add", "www.example.com", "--user", "alice")
    ok("mail", "domain", "add", "example.com", "--user", "alice")


def test_domain_move_gives_the_domain_and_its_files_to_the_other_user(users: Path) -> None:
    ok("domain", "add", "example.com", "--user", "alice")
    ok("domain", "add", "shop.example.com", "--user", "alice")
    ok("mail", "domain", "add", "example.com", "--user", "alice")
    (users / "www" / "alice" / "example.com" / "public" / "hello.txt").write_text("alice's page\n")
    moved = ok("domain", "move", "Example.com", "--to", "bob")
    assert "Domain example.com moved from alice to bob." in moved
    assert "websites: example.com, shop.example.com" in moved
    assert "mail domains: example.com" in moved
    assert "example.com" in ok("domain", "list", "--user", "bob")
    assert "example.com" not in ok("domain", "list", "--user", "alice")
    assert "example.com" in ok("mail", "domain", "list", "--user", "bob")
    assert (users / "www" / "bob" / "example.com" / "public" / "hello.txt").read_text() == "alice's page\n"
    assert not (users / "www" / "alice" / "example.com").exists()
    assert "belongs to this account already" in fails("domain", "move", "example.com", "--to", "bob")
    assert "move example.com" in fails("domain", "move", "shop.example.com", "--to", "alice")
    assert NOT_AVAILABLE in fails("domain", "add", "www.example.com", "--user", "alice")


def test_domain_move_refuses_unknown_names_users_and_bad_input(users: Path) -> None:
    ok("domain", "add", "example.com", "--user", "alice")
    assert "No website or mail domain is named nothing.test" in fails("domain", "move", "nothing.test", "--to", "bob")
    assert "No user named 'nobody'" in fails("domain", "move", "example.com", "--to", "nobody")
    assert "not a valid domain" in fails("domain", "move", "../etc", "--to", "bob")
    assert "example.com" in ok("domain", "list", "--user", "alice")


def test_domain_move_respects_the_new_owners_plan(users: Path) -> None:
    ok("domain", "add", "example.com", "--user", "alice")
    ok("domain", "add", "bob.test", "--user", "bob")
    ok("plan", "create", "one", "--max-domains", "1")
    ok("plan", "assign", "bob", "one")
    assert "Your plan allows 1 domains and you have 1." in fails("domain", "move", "example.com", "--to", "bob")
    assert "example.com" in ok("domain", "list", "--user", "alice")
