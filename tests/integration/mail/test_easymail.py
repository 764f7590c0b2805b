"""The EasySuperSecureEmail dialect against the real Postfix, Dovecot and OpenDKIM: a mailbox created through it
logs in over IMAP, shows in the native API and receives SMTP mail; a password changed through it replaces the old
one at once; a user deleted through it is refused delivery; its DKIM record verifies the mail the panel signs."""

from __future__ import annotations

import asyncio
import io
import tarfile
from typing import Any

import dkim

from tests.conftest import Account, Api
from tests.dialects.easymail.easy import Easy
from tests.integration.mail.conftest import MailStack
from tests.integration.mail.test_dkim import dns_answering_only, fetch_raw
from tests.integration.mail.test_dkim import send as send_signed
from tests.integration.mail.test_mail_delivery import PASSWORD, imap_login, rcpt_reply, send, subjects

NEW_PASSWORD = "brand-new-mailbox-pw-42"


async def create_domain(easy: Easy, domain: str, username: str) -> dict[str, Any]:
    response = await easy.call("POST", "/domains", {"domain": domain, "username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_mailbox_created_through_easymail_logs_in_shows_natively_and_receives_mail(
    mail_stack: MailStack, admin_api: Api, alice: Account
) -> None:
    easy = Easy(admin_api)
    token = await easy.auth(alice)
    created = await create_domain(easy, "example.test", "admin@example.test")
    domain_id = created["domain"]["id"]
    added = await easy.call("POST", f"/user/{domain_id}", {"email": "info@example.test", "password": PASSWORD})
    assert added.status_code == 200, added.text

    for address in ("admin@example.test", "info@example.test"):
        assert await asyncio.to_thread(imap_login, mail_stack, address, PASSWORD)
    native = await admin_api.get(f"/api/v1/mail/domains/{domain_id}/mailboxes", token=token)
    assert native.status_code == 200
    assert sorted((box["id"], box["address"]) for box in native.json()) == sorted(
        [(created["user"]["id"], "admin@example.test"), (added.json()["user"]["id"], "info@example.test")]
    )

    await asyncio.to_thread(send, mail_stack, "info@example.test", "Hello from SMTP")
    got = await asyncio.to_thread(subjects, mail_stack, "info@example.test", PASSWORD, wait_for="Hello from SMTP")
    assert got == ["Hello from SMTP"]


async def test_after_change_password_the_old_password_fails_and_the_new_one_works(
    mail_stack: MailStack, admin_api: Api, alice: Account
) -> None:
    easy = Easy(admin_api)
    await easy.auth(alice)
    created = await create_domain(easy, "example.test", "admin")
    assert await asyncio.to_thread(imap_login, mail_stack, "admin@example.test", PASSWORD)
    fields = {"id": str(created["user"]["id"]), "password": NEW_PASSWORD, "domain_id": str(created["domain"]["id"])}
    response = await easy.call("POST", "/user-change-password", fields)
    assert response.json() == {"result": True}
    assert not await asyncio.to_thread(imap_login, mail_stack, "admin@example.test", PASSWORD)
    assert await asyncio.to_thread(imap_login, mail_stack, "admin@example.test", NEW_PASSWORD)


async def test_after_delete_users_delivery_is_refused_and_login_fails(
    mail_stack: MailStack, admin_api: Api, alice: Account
) -> None:
    easy = Easy(admin_api)
    await easy.auth(alice)
    created = await create_domain(easy, "example.test", "admin")
    await easy.call("POST", f"/user/{created['domain']['id']}", {"email": "gone", "password": PASSWORD})
    assert (await asyncio.to_thread(rcpt_reply, mail_stack, "gone@example.test"))[0] == 250

    response = await easy.call("DELETE", "/users", {"email": "gone@example.test"})
    assert response.json() == {"result": True}
    code, text = await asyncio.to_thread(rcpt_reply, mail_stack, "gone@example.test")
    assert code == 550, text
    assert not await asyncio.to_thread(imap_login, mail_stack, "gone@example.test", PASSWORD)
    assert (await asyncio.to_thread(rcpt_reply, mail_stack, "admin@example.test"))[0] == 250


async def test_after_delete_domain_its_mail_is_refused(mail_stack: MailStack, admin_api: Api, alice: Account) -> None:
    easy = Easy(admin_api)
    await easy.auth(alice)
    await create_domain(easy, "example.test", "admin")
    assert (await easy.call("DELETE", "/domain", {"domain": "example.test"})).json() == {"result": True}
    code, text = await asyncio.to_thread(rcpt_reply, mail_stack, "admin@example.test")
    assert code >= 550, text
    assert not await asyncio.to_thread(imap_login, mail_stack, "admin@example.test", PASSWORD)


async def test_the_dkim_record_from_easymail_verifies_the_mail_the_panel_signs(
    mail_stack: MailStack, admin_api: Api, alice: Account
) -> None:
    easy = Easy(admin_api)
    await easy.auth(alice)
    await create_domain(easy, "signed.test", "alice")
    response = await easy.call("POST", "/dkim/add-new-domain", {"domain": "signed.test"})
    assert response.status_code == 200, response.text
    record = response.json()["dkim"]

    await asyncio.to_thread(send_signed, mail_stack, "alice@signed.test", "alice@signed.test", "Signed via easymail")
    raw = await asyncio.to_thread(fetch_raw, mail_stack, "alice@signed.test", "Signed via easymail")
    assert b"DKIM-Signature:" in raw
    assert dkim.verify(raw, dnsfunc=dns_answering_only({"name": record["name"], "strings": [record["value"]]}))


async def test_export_domain_holds_the_mail_received_by_smtp(
    mail_stack: MailStack, admin_api: Api, alice: Account
) -> None:
    easy = Easy(admin_api)
    await easy.auth(alice)
    await create_domain(easy, "example.test", "admin")
    await asyncio.to_thread(send, mail_stack, "admin@example.test", "Keep me in the export")
    assert await asyncio.to_thread(
        subjects, mail_stack, "admin@example.test", PASSWORD, wait_for="Keep me in the export"
    )
    response = await easy.call("GET", "/export/domain", {"domain": "example.test"})
    assert response.status_code == 200, response.text
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        messages = [
            tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
            and member.name.startswith(("example.test/mail/admin/Maildir/new/", "example.test/mail/admin/Maildir/cur/"))
        ]
    assert any(b"Subject: Keep me in the export" in message for message in messages)
