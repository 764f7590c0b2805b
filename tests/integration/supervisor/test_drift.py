"""Drift is a change to what was applied, never a first apply: a state folder whose services were never configured
(fresh after `init`, or a database restored on a new host) is applied without a report, while a file edited or
deleted by hand afterwards, or a lookup row changed behind the panel's back, is reported and put back, once."""

from __future__ import annotations

import shutil
import sqlite3

from hostplane.activity.log import Actor
from hostplane.auth.principal import Client, Principal
from hostplane.hosting.state import APPLIED_MARK, apply_desired_state, reconcile
from hostplane.mail.dkim import DkimService
from hostplane.mail.service import MailService
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.mailpaths import MailPaths
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.users.service import UserAdminService
from tests.conftest import PASSWORD
from tests.integration.supervisor.conftest import flat, hostplane


async def mail_with_a_dkim_key(runtime: Runtime) -> None:
    """In the database (and, as each change does, in the lookup files and the key folder): a user with a mail
    domain, a mailbox and a DKIM key."""
    user = await UserAdminService(runtime).create_user(
        Actor(None, "test"), username="drifter", email="drifter@example.com", password=PASSWORD
    )
    owner = Principal(user=user, client=Client(ip="test"))
    domain = await MailService(runtime).add_domain(owner, "drift.test")
    await MailService(runtime).add_mailbox(owner, domain.id, "info", PASSWORD)
    await DkimService(runtime).ensure(owner, domain.id)


async def test_a_state_never_applied_here_is_applied_without_a_report_and_a_second_reconcile_is_clean(
    panel_runtime: Runtime,
) -> None:
    await mail_with_a_dkim_key(panel_runtime)
    paths = MailPaths.from_settings(panel_runtime.settings)
    signer = OpenDkimDriver.from_settings(panel_runtime.settings)
    key = signer.key_path("drift.test", "mail")
    shutil.rmtree(paths.root)  # the database moved to a new host: no mail folder, no keys, no tables yet
    assert not key.exists()

    first_start = await apply_desired_state(panel_runtime)  # what `serve` does before its services start
    assert first_start.drift == []
    assert key.exists()  # applied all the same
    assert "mail._domainkey.drift.test" in (signer.config_dir / "KeyTable").read_text()
    with sqlite3.connect(paths.lookup / "postfix.db") as db:
        assert db.execute("SELECT address FROM mailboxes").fetchall() == [("info@drift.test",)]

    first = await reconcile(panel_runtime)  # the nginx, Postfix, Dovecot and OpenDKIM configs: never written yet
    assert first.drift == []
    assert (panel_runtime.settings.state_dir / APPLIED_MARK).exists()
    assert (await reconcile(panel_runtime)).drift == []


async def test_files_edited_or_deleted_after_they_were_applied_are_reported_and_put_back_once(
    panel_runtime: Runtime,
) -> None:
    await mail_with_a_dkim_key(panel_runtime)
    assert (await reconcile(panel_runtime)).drift == []
    settings = panel_runtime.settings
    paths = MailPaths.from_settings(settings)
    signer = OpenDkimDriver.from_settings(settings)
    key_table = signer.config_dir / "KeyTable"
    applied = key_table.read_text()
    key_table.write_text(applied.replace("mail._domainkey.drift.test", "mail._domainkey.evil.test"))
    main_cf = paths.postfix_config / "main.cf"
    main_cf.write_text(main_cf.read_text() + "default_transport = smtp\n")  # would let mail leave the machine
    shutil.rmtree(paths.dovecot_config_dir)  # a whole applied part deleted
    with sqlite3.connect(paths.lookup / "postfix.db") as db:
        db.execute("DELETE FROM mailboxes")

    report = await reconcile(panel_runtime)
    assert report.drift == [
        "postfix: configuration put back",
        "dovecot: configuration put back",
        "opendkim: configuration put back",
        "mail lookup: missing mailbox info@drift.test",
    ]
    assert key_table.read_text() == applied
    assert "default_transport = smtp" not in main_cf.read_text()
    assert (paths.dovecot_config_dir / "dovecot.conf").exists()

    key_table.unlink()  # a deleted table is drift too, as the signer's own reapply sees it
    assert (await apply_desired_state(panel_runtime)).drift == ["opendkim KeyTable written (it was missing)"]
    assert (await reconcile(panel_runtime)).drift == []


def test_reconcile_on_a_fresh_state_folder_says_no_drift(panel_settings: Settings) -> None:
    result = hostplane(panel_settings, "reconcile")
    assert result.exit_code == 0, result.output
    assert flat(result.output) == "No drift: everything matches the desired state."
    again = hostplane(panel_settings, "reconcile")
    assert flat(again.output) == "No drift: everything matches the desired state."
