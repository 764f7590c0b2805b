"""Mail as a user sees it: mailboxes made through the API log in over IMAP and receive SMTP mail at once,
password changes and deletions take effect at once, and no mail ever leaves the machine."""

from __future__ import annotations

import asyncio
import contextlib
import email
import imaplib
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import pytest

from hostplane.system.mailconfig import ConfigRejected
from hostplane.system.runner import run_sync
from tests.conftest import Account, Api
from tests.integration.mail.conftest import MailStack

PASSWORD = "correct-horse-mailbox-7"


async def create_mailbox(api: Api, domain: str = "example.test", local: str = "alice", **extra: Any) -> dict[str, Any]:
    listed = (await api.get("/api/v1/mail/domains")).json()
    found = [d for d in listed if d["name"] == domain]
    if found:
        domain_id = found[0]["id"]
    else:
        created = await api.post("/api/v1/mail/domains", json={"name": domain})
        assert created.status_code == 201, created.text
        domain_id = created.json()["id"]
    response = await api.post(
        f"/api/v1/mail/domains/{domain_id}/mailboxes", json={"local_part": local, "password": PASSWORD, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def imap_login(stack: MailStack, user: str, password: str) -> bool:
    client = imaplib.IMAP4(*stack.imap, timeout=15)
    try:
        client.login(user, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return True


def send(stack: MailStack, to: str, subject: str, body: str = "hello\n", sender: str = "sender@example.test") -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(body)
    with smtplib.SMTP(*stack.smtp, timeout=15) as client:
        client.send_message(message)


def rcpt_reply(stack: MailStack, to: str) -> tuple[int, str]:
    with smtplib.SMTP(*stack.smtp, timeout=15) as client:
        client.ehlo()
        client.mail("sender@example.test")
        code, text = client.rcpt(to)
        client.rset()
    return code, text.decode()


def subjects(stack: MailStack, user: str, password: str, *, wait_for: str | None = None) -> list[str]:
    """Subjects in INBOX; with `wait_for`, polls until that subject arrived (delivery is asynchronous)."""
    deadline = time.monotonic() + 15
    while True:
        client = imaplib.IMAP4(*stack.imap, timeout=15)
        client.login(user, password)
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        found = []
        for number in data[0].split():
            _, parts = client.fetch(number, "(BODY.PEEK[HEADER])")
            header = parts[0]
            assert isinstance(header, tuple)
            found.append(str(email.message_from_bytes(header[1])["Subject"]))
        client.logout()
        if wait_for is None or wait_for in found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


async def test_a_new_mailbox_logs_in_at_once_and_receives_smtp_mail(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    box = await create_mailbox(user_api)
    assert box["address"] == "alice@example.test"

    assert await asyncio.to_thread(imap_login, mail_stack, "alice@example.test", PASSWORD)
    await asyncio.to_thread(send, mail_stack, "alice@example.test", "Welcome to your mailbox")
    got = await asyncio.to_thread(
        subjects, mail_stack, "alice@example.test", PASSWORD, wait_for="Welcome to your mailbox"
    )
    assert got == ["Welcome to your mailbox"]


async def test_a_wrong_password_is_refused_over_imap(mail_stack: MailStack, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await create_mailbox(user_api)
    assert not await asyncio.to_thread(imap_login, mail_stack, "alice@example.test", PASSWORD + "x")
    assert not await asyncio.to_thread(imap_login, mail_stack, "nobody@example.test", PASSWORD)


async def test_after_a_password_change_the_old_password_fails_and_the_new_one_works(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    box = await create_mailbox(user_api)
    assert await asyncio.to_thread(imap_login, mail_stack, "alice@example.test", PASSWORD)
    new = "brand-new-mailbox-pw-42"
    response = await user_api.put(f"/api/v1/mail/mailboxes/{box['id']}/password", json={"password": new})
    assert response.status_code == 204
    assert not await asyncio.to_thread(imap_login, mail_stack, "alice@example.test", PASSWORD)
    assert await asyncio.to_thread(imap_login, mail_stack, "alice@example.test", new)


async def test_a_deleted_mailbox_gets_550_and_its_maildir_is_archived(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    box = await create_mailbox(user_api)
    await create_mailbox(user_api, local="bob")
    await asyncio.to_thread(send, mail_stack, "alice@example.test", "Keep me")
    assert await asyncio.to_thread(subjects, mail_stack, "alice@example.test", PASSWORD, wait_for="Keep me")
    maildir = mail_stack.paths.vmail / "example.test" / "alice"
    assert maildir.exists()

    response = await user_api.delete(f"/api/v1/mail/mailboxes/{box['id']}")
    assert response.json() == {"maildir": "archived"}

    code, text = await asyncio.to_thread(rcpt_reply, mail_stack, "alice@example.test")
    assert code == 550, text
    assert not await asyncio.to_thread(imap_login, mail_stack, "alice@example.test", PASSWORD)
    assert not maildir.exists()
    archived = [p for p in mail_stack.paths.archive.rglob("*") if p.is_file() and "/new/" in str(p)]
    assert len(archived) == 1 and b"Subject: Keep me" in archived[0].read_bytes()
    assert (await asyncio.to_thread(rcpt_reply, mail_stack, "bob@example.test"))[0] == 250


async def test_a_deleted_domain_refuses_mail_and_its_mail_can_be_removed(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    box = await create_mailbox(user_api)
    await asyncio.to_thread(send, mail_stack, "alice@example.test", "Gone soon")
    assert await asyncio.to_thread(subjects, mail_stack, "alice@example.test", PASSWORD, wait_for="Gone soon")
    response = await user_api.delete(f"/api/v1/mail/domains/{box['domain_id']}?maildir=remove")
    assert response.json() == {"maildir": "removed"}
    code, text = await asyncio.to_thread(rcpt_reply, mail_stack, "alice@example.test")
    assert code >= 550, text
    assert not (mail_stack.paths.vmail / "example.test").exists()
    assert not any(mail_stack.paths.archive.iterdir())


async def test_an_unknown_mailbox_of_a_known_domain_gets_550(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    await create_mailbox(user_api)
    code, text = await asyncio.to_thread(rcpt_reply, mail_stack, "nobody@example.test")
    assert code == 550 and "User unknown" in text


async def test_mail_to_a_foreign_domain_is_refused_and_nothing_leaves_the_machine(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    await create_mailbox(user_api)
    code, text = await asyncio.to_thread(rcpt_reply, mail_stack, "someone@gmail.com")
    assert code == 550 and "outbound mail disabled" in text
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(send, mail_stack, "someone@example.org", "Escape attempt")
    queue = run_sync(["postqueue", "-c", str(mail_stack.postfix.config_dir), "-p"]).output
    assert "Mail queue is empty" in queue
    master = (mail_stack.postfix.config_dir / "master.cf").read_text()
    assert not any(line.split()[-1:] == ["smtp"] for line in master.splitlines() if not line.startswith("#"))


async def test_an_alias_delivers_to_its_mailbox(mail_stack: MailStack, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    box = await create_mailbox(user_api)
    response = await user_api.post(
        f"/api/v1/mail/domains/{box['domain_id']}/aliases",
        json={"local_part": "info", "destination": "alice@example.test"},
    )
    assert response.status_code == 201, response.text
    await asyncio.to_thread(send, mail_stack, "info@example.test", "Through the alias")
    got = await asyncio.to_thread(subjects, mail_stack, "alice@example.test", PASSWORD, wait_for="Through the alias")
    assert got == ["Through the alias"]


async def test_a_message_over_the_quota_is_not_stored(mail_stack: MailStack, user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    await create_mailbox(user_api, quota_mb=1)
    await asyncio.to_thread(
        send, mail_stack, "alice@example.test", "Too big", "x" * 76 + "\n" * 1 + ("y" * 76 + "\n") * 20000
    )
    await asyncio.to_thread(send, mail_stack, "alice@example.test", "Small one")
    got = await asyncio.to_thread(subjects, mail_stack, "alice@example.test", PASSWORD, wait_for="Small one")
    assert got == ["Small one"]
    assert "Quota exceeded" in mail_stack.maillog() or "Mailbox is full" in mail_stack.maillog()


@pytest.mark.parametrize(
    ("bad_local", "bad_domain"), [("../../etc", None), ("a\r\nb", None), (None, "../x.test"), (None, "x.test\r\nb")]
)
async def test_bad_names_are_refused_before_any_daemon_sees_them(
    mail_stack: MailStack, user_api: Api, alice: Account, bad_local: str | None, bad_domain: str | None
) -> None:
    await user_api.login(alice)
    if bad_domain is not None:
        response = await user_api.post("/api/v1/mail/domains", json={"name": bad_domain})
    else:
        domain = (await user_api.post("/api/v1/mail/domains", json={"name": "example.test"})).json()
        response = await user_api.post(
            f"/api/v1/mail/domains/{domain['id']}/mailboxes", json={"local_part": bad_local, "password": PASSWORD}
        )
    assert response.status_code == 422
    assert [p for p in mail_stack.paths.vmail.rglob("*")] == []


async def test_a_config_that_fails_validation_is_refused_and_the_live_one_keeps_serving(
    mail_stack: MailStack, user_api: Api, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    await user_api.login(alice)
    await create_mailbox(user_api)
    live_main = (mail_stack.postfix.config_dir / "main.cf").read_text()
    live_dovecot = mail_stack.paths.dovecot_config.read_text()
    real_postfix_render, real_dovecot_render = mail_stack.postfix.render, mail_stack.dovecot.render

    def broken_postfix() -> dict[str, str]:
        files = real_postfix_render()
        files["main.cf"] += "queue_directory = /nonexistent/hostplane-broken\n"
        return files

    def broken_dovecot(config_dir: Any) -> dict[str, str]:
        files = real_dovecot_render(config_dir)
        files["dovecot.conf"] += "protocols = imap lmtp nonsense-protocol {\n"
        return files

    monkeypatch.setattr(mail_stack.postfix, "render", broken_postfix)
    monkeypatch.setattr(mail_stack.dovecot, "render", broken_dovecot)
    with pytest.raises(ConfigRejected):
        await mail_stack.postfix.apply()
    with pytest.raises(ConfigRejected):
        await mail_stack.dovecot.apply()
    assert (mail_stack.postfix.config_dir / "main.cf").read_text() == live_main
    assert mail_stack.paths.dovecot_config.read_text() == live_dovecot
    assert await asyncio.to_thread(imap_login, mail_stack, "alice@example.test", PASSWORD)
    assert (await asyncio.to_thread(rcpt_reply, mail_stack, "alice@example.test"))[0] == 250
