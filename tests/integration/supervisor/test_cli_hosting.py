"""The admin's commands for a named user's domains and mail, and `hostplane reconcile`, against the real services the
supervisor runs: the site answers over HTTP and the mailbox logs in over IMAP right after the command."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hostplane.hosting.state import build_supervisor
from hostplane.keys import new_key_file_content
from hostplane.runtime import build_runtime
from hostplane.settings import Settings
from hostplane.system.supervisor import Supervisor, end_group, group_members
from tests.conftest import PASSWORD
from tests.integration.supervisor.conftest import flat, hostplane, panel_values


@pytest.fixture(scope="module")
def services(sqlite_template: Path) -> Iterator[Settings]:
    """One panel state with its services running for the whole module (they take seconds to start and stop);
    each test uses its own user and names."""
    root = Path(tempfile.mkdtemp(prefix="hpc-", dir="/tmp"))
    root.chmod(0o711)
    (root / "s").mkdir(mode=0o700)
    (root / "s" / "secret.key").write_bytes(new_key_file_content())
    shutil.copyfile(sqlite_template, root / "s" / "hostplane.db")
    settings = Settings(**panel_values(root, root / "s" / "hostplane.db"))

    async def start() -> Supervisor:
        runtime = build_runtime(settings)
        try:
            supervisor = build_supervisor(runtime)
            await supervisor.start()
            return supervisor
        finally:
            await runtime.close()

    supervisor: Supervisor | None = None
    try:
        supervisor = asyncio.run(start())
        yield settings
    finally:
        if supervisor is not None:
            groups = {pid for service in supervisor.services if (pid := service.pid()) is not None}
            asyncio.run(supervisor.stop())
            for group in groups:
                if group_members(group):
                    end_group(group, 1.0)
        shutil.rmtree(root, ignore_errors=True)


def ok(settings: Settings, *args: str) -> str:
    result = hostplane(settings, *args)
    assert result.exit_code == 0, result.output
    return flat(result.output)


def fails(settings: Settings, *args: str) -> str:
    result = hostplane(settings, *args)
    assert result.exit_code == 1, result.output
    return flat(result.output)


def make_user(settings: Settings, name: str) -> None:
    ok(settings, "user", "create", name, "--email", f"{name}@example.com", "--password", PASSWORD)


def fetch(settings: Settings, host: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{settings.nginx_http_port}/", headers={"Host": host}, timeout=5)


def imap_login(settings: Settings, address: str, password: str) -> bool:
    client = imaplib.IMAP4("127.0.0.1", settings.mail_imap_port, timeout=15)
    try:
        client.login(address, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return True


def test_domain_commands_act_for_the_named_user_and_the_site_answers_right_after(services: Settings) -> None:
    make_user(services, "dora")
    make_user(services, "eve")
    assert fetch(services, "dora-site.test").status_code == 404
    assert "Domain dora-site.test added for dora" in ok(services, "domain", "add", "DORA-site.test", "--user", "dora")
    response = fetch(services, "dora-site.test")
    assert response.status_code == 200
    assert "<h1>dora-site.test</h1>" in response.text
    assert "dora-site.test" in ok(services, "domain", "list", "--user", "dora")
    assert "dora-site.test" not in ok(services, "domain", "list", "--user", "eve")
    # Another user's domain is not theirs to delete, and a name another user holds is not available (nor who).
    assert "eve has no domain named dora-site.test" in fails(
        services, "domain", "delete", "dora-site.test", "--user", "eve"
    )
    refused = fails(services, "domain", "add", "dora-site.test", "--user", "eve")
    assert "This domain name is not available." in refused
    assert "dora" not in refused.replace("dora-site.test", "")
    assert "already exists" in fails(services, "domain", "add", "dora-site.test", "--user", "dora")
    assert "not a valid domain" in fails(services, "domain", "add", "../etc", "--user", "eve")
    assert "No user named 'nobody'" in fails(services, "domain", "list", "--user", "nobody")
    assert "Domain dora-site.test deleted." in ok(services, "domain", "delete", "dora-site.test", "--user", "dora")
    assert fetch(services, "dora-site.test").status_code == 404


def test_mail_commands_create_a_mailbox_that_logs_in_over_imap_and_follow_its_password_and_deletion(
    services: Settings,
) -> None:
    make_user(services, "mia")
    assert "Mail domain mia.test added for mia" in ok(services, "mail", "domain", "add", "mia.test", "--user", "mia")
    assert "mia.test" in ok(services, "mail", "domain", "list", "--user", "mia")
    first = "Corvid-Lantern-93"
    added = ok(services, "mail", "mailbox", "add", "info@mia.test", "--user", "mia", "--password", first)
    assert "Mailbox info@mia.test added for mia." in added
    assert imap_login(services, "info@mia.test", first)
    generated = ok(services, "mail", "mailbox", "add", "sales@mia.test", "--user", "mia", "--generate-password")
    match = re.search(r"Password \(shown once\): (\S+)", generated)
    assert match
    assert imap_login(services, "sales@mia.test", match.group(1))
    listing = ok(services, "mail", "mailbox", "list", "mia.test", "--user", "mia")
    assert "info@mia.test" in listing and "sales@mia.test" in listing
    # A prompted password (typed twice) replaces the old one at once.
    result = hostplane(
        services, "mail", "mailbox", "passwd", "info@mia.test", "--user", "mia", input="Heron-Quarry-71\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert not imap_login(services, "info@mia.test", first)
    assert imap_login(services, "info@mia.test", "Heron-Quarry-71")
    assert "mia has no mailbox nobody@mia.test" in fails(
        services, "mail", "mailbox", "passwd", "nobody@mia.test", "--user", "mia", "--password", first
    )
    deleted = ok(services, "mail", "mailbox", "delete", "info@mia.test", "--user", "mia", "--remove-mail")
    assert "Mailbox info@mia.test deleted" in deleted
    assert not imap_login(services, "info@mia.test", "Heron-Quarry-71")


def test_reconcile_puts_back_vhosts_and_configs_changed_by_hand_and_reports_them_then_a_second_run_is_clean(
    services: Settings,
) -> None:
    make_user(services, "rita")
    for name in ("rita-one.test", "rita-two.test"):
        ok(services, "domain", "add", name, "--user", "rita")
    ok(services, "reconcile")  # whatever earlier tests left: from here on the state is the desired one
    assert "No drift: everything matches the desired state." in ok(services, "reconcile")
    live = services.state_dir / "nginx" / "conf"
    deleted, edited = live / "sites" / "rita-one.test.conf", live / "sites" / "rita-two.test.conf"
    original = deleted.read_text(), edited.read_text()
    deleted.unlink()
    edited.write_text(original[1].replace("server_name rita-two.test;", "server_name rita-two.test evil.test;"))
    main_cf = services.state_dir / "mail" / "postfix" / "etc" / "main.cf"
    main_cf.write_text(main_cf.read_text() + "default_transport = smtp\n")  # would let mail leave the machine

    report = ok(services, "reconcile")
    assert "put back: nginx: missing: sites/rita-one.test.conf" in report
    assert "put back: nginx: changed: sites/rita-two.test.conf" in report
    assert "put back: postfix: configuration put back" in report
    assert (deleted.read_text(), edited.read_text()) == original
    assert "default_transport = smtp" not in main_cf.read_text()
    assert fetch(services, "rita-one.test").status_code == 200
    assert fetch(services, "evil.test").status_code == 404

    assert "No drift: everything matches the desired state." in ok(services, "reconcile")
