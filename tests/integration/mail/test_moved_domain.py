"""A mail domain an admin moved to another account, on real Postfix and Dovecot: the mailbox logs in with the same
password and keeps its mail, new mail is delivered, and the new owner manages it (a password change takes effect
at once) while the old owner gets 404; another tenant still cannot add the name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import Account, Api
from tests.integration.mail.conftest import MailStack
from tests.integration.mail.test_mail_delivery import PASSWORD, create_mailbox, imap_login, send, subjects

NEW_PASSWORD = "battery-staple-mailbox-8"


async def test_a_moved_mail_domain_keeps_its_mail_and_answers_to_its_new_owner(
    mail_stack: MailStack,
    user_api: Api,
    admin_api: Api,
    alice: Account,
    admin: Account,
    make_account: Callable[..., Any],
) -> None:
    bob: Account = await make_account("bob")
    await user_api.login(alice)
    box = await create_mailbox(user_api, "moved.test", "info")
    send(mail_stack, "info@moved.test", "before the move")
    assert "before the move" in subjects(mail_stack, "info@moved.test", PASSWORD, wait_for="before the move")

    await admin_api.login(admin)
    moved = await admin_api.post(f"/api/v1/admin/mail/domains/{box['domain_id']}/move", json={"user_id": bob.user.id})
    assert moved.status_code == 200, moved.text

    assert imap_login(mail_stack, "info@moved.test", PASSWORD)
    send(mail_stack, "info@moved.test", "after the move")
    found = subjects(mail_stack, "info@moved.test", PASSWORD, wait_for="after the move")
    assert {"before the move", "after the move"} <= set(found)

    assert (await user_api.get(f"/api/v1/mail/mailboxes/{box['id']}")).status_code == 404
    taken = await user_api.post("/api/v1/mail/domains", json={"name": "lists.moved.test"})
    assert (taken.status_code, taken.json()["detail"]) == (409, "This domain name is not available.")
    as_bob = user_api.from_peer("203.0.113.8")
    await as_bob.login(bob)
    changed = await as_bob.put(f"/api/v1/mail/mailboxes/{box['id']}/password", json={"password": NEW_PASSWORD})
    assert changed.status_code == 204, changed.text
    assert imap_login(mail_stack, "info@moved.test", NEW_PASSWORD)
    assert not imap_login(mail_stack, "info@moved.test", PASSWORD)
