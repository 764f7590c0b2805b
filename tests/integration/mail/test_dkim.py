"""DKIM as a mail domain owner sees it: the API creates the key and reports the TXT record, mail sent through
the panel's Postfix arrives signed, and dkimpy verifies it against exactly the record the API reported."""

from __future__ import annotations

import asyncio
import imaplib
import pwd
import smtplib
import stat
import time
from email.message import EmailMessage
from typing import Any

import dkim
from sqlalchemy import select

from hostplane.mail.models import DkimKey
from hostplane.runtime import Runtime
from tests.conftest import Account, Api
from tests.integration.mail.conftest import MailStack

PASSWORD = "correct-horse-mailbox-7"
DOMAIN = "signed.test"


async def mail_domain_with_mailbox(api: Api, domain: str = DOMAIN) -> int:
    created = await api.post("/api/v1/mail/domains", json={"name": domain})
    assert created.status_code == 201, created.text
    domain_id: int = created.json()["id"]
    box = await api.post(
        f"/api/v1/mail/domains/{domain_id}/mailboxes", json={"local_part": "alice", "password": PASSWORD}
    )
    assert box.status_code == 201, box.text
    return domain_id


def send(stack: MailStack, sender: str, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("Signed by the panel.\nSecond line.\n")
    with smtplib.SMTP(*stack.smtp, timeout=15) as client:
        client.send_message(message)


def fetch_raw(stack: MailStack, user: str, subject: str) -> bytes:
    """The whole message as stored, polling until it arrived (delivery is asynchronous)."""
    deadline = time.monotonic() + 20
    while True:
        client = imaplib.IMAP4(*stack.imap, timeout=15)
        client.login(user, PASSWORD)
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "SUBJECT", f'"{subject}"')
        numbers = data[0].split()
        if numbers:
            _, parts = client.fetch(numbers[0], "(BODY.PEEK[])")
            client.logout()
            part = parts[0]
            assert isinstance(part, tuple)
            return part[1]
        client.logout()
        assert time.monotonic() < deadline, f"{subject!r} never arrived:\n{stack.maillog()[-3000:]}"
        time.sleep(0.1)


def dns_answering_only(record: dict[str, Any]) -> Any:
    """A resolver that knows one TXT record: the one the API reported, as a DNS server would serve it (its
    255-byte strings, joined by the resolver)."""
    asked: list[str] = []

    def dnsfunc(name: bytes | str, timeout: int = 5) -> bytes | None:
        text = name.decode() if isinstance(name, bytes) else name
        asked.append(text)
        if text.rstrip(".") == record["name"]:
            return "".join(record["strings"]).encode()
        return None

    dnsfunc.asked = asked  # type: ignore[attr-defined]
    return dnsfunc


async def test_mail_sent_through_the_panel_is_signed_and_verifies_against_the_reported_record(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    domain_id = await mail_domain_with_mailbox(user_api)
    signer_pid = mail_stack.opendkim.pid()
    created = await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    assert created.status_code == 201, created.text
    record = created.json()["dkim"]
    assert record["name"] == f"mail._domainkey.{DOMAIN}"

    await asyncio.to_thread(send, mail_stack, f"alice@{DOMAIN}", f"alice@{DOMAIN}", "Signed hello")
    raw = await asyncio.to_thread(fetch_raw, mail_stack, f"alice@{DOMAIN}", "Signed hello")

    assert b"DKIM-Signature:" in raw
    dnsfunc = dns_answering_only(record)
    assert dkim.verify(raw, dnsfunc=dnsfunc)
    assert dnsfunc.asked == [f"mail._domainkey.{DOMAIN}."]
    signature = raw.split(b"DKIM-Signature:", 1)[1].split(b"\r\n\r\n", 1)[0]
    assert b"d=signed.test" in signature
    assert b"s=mail" in signature
    assert mail_stack.opendkim.pid() == signer_pid  # the new key was loaded by SIGUSR1, without a restart


async def test_a_signed_message_whose_body_was_changed_fails_verification(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    domain_id = await mail_domain_with_mailbox(user_api)
    record = (await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")).json()["dkim"]
    await asyncio.to_thread(send, mail_stack, f"alice@{DOMAIN}", f"alice@{DOMAIN}", "Tamper with me")
    raw = await asyncio.to_thread(fetch_raw, mail_stack, f"alice@{DOMAIN}", "Tamper with me")
    assert dkim.verify(raw, dnsfunc=dns_answering_only(record))

    tampered = raw.replace(b"Signed by the panel.", b"Signed by somebody.")
    assert tampered != raw
    assert not dkim.verify(tampered, dnsfunc=dns_answering_only(record))


async def test_a_message_does_not_verify_against_another_domains_record(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    domain_id = await mail_domain_with_mailbox(user_api)
    other_id = await mail_domain_with_mailbox(user_api, "other.test")
    await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    other = (await user_api.post(f"/api/v1/mail/domains/{other_id}/dkim")).json()["dkim"]
    await asyncio.to_thread(send, mail_stack, f"alice@{DOMAIN}", f"alice@{DOMAIN}", "Whose key")
    raw = await asyncio.to_thread(fetch_raw, mail_stack, f"alice@{DOMAIN}", "Whose key")
    wrong_key = {**other, "name": f"mail._domainkey.{DOMAIN}"}
    assert not dkim.verify(raw, dnsfunc=dns_answering_only(wrong_key))


async def test_mail_from_a_domain_without_a_key_is_delivered_unsigned(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    await mail_domain_with_mailbox(user_api)
    await asyncio.to_thread(send, mail_stack, f"alice@{DOMAIN}", f"alice@{DOMAIN}", "No key yet")
    raw = await asyncio.to_thread(fetch_raw, mail_stack, f"alice@{DOMAIN}", "No key yet")
    assert b"DKIM-Signature:" not in raw


async def test_the_signer_gets_the_key_as_an_opendkim_only_file_and_the_database_only_sealed(
    mail_stack: MailStack, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = await mail_domain_with_mailbox(user_api)
    assert (await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")).status_code == 201

    path = mail_stack.opendkim.key_path(DOMAIN, "mail")
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    daemon = pwd.getpwnam("opendkim")
    assert (info.st_uid, info.st_gid) == (daemon.pw_uid, daemon.pw_gid)
    assert mail_stack.opendkim.unsafe_key_folders() == []
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    async with runtime.reading() as db:
        key = await db.scalar(select(DkimKey).where(DkimKey.mail_domain_id == domain_id))
    assert key is not None
    assert b"PRIVATE KEY" not in key.private_key_sealed
    assert runtime.keyring.open(key.private_key_sealed, f"dkim:{DOMAIN}:mail") == pem
    assert f"*@{DOMAIN} mail._domainkey.{DOMAIN}" in (mail_stack.opendkim.config_dir / "SigningTable").read_text()


async def test_deleting_the_mail_domain_removes_its_key_from_the_signer(
    mail_stack: MailStack, user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    domain_id = await mail_domain_with_mailbox(user_api)
    await user_api.post(f"/api/v1/mail/domains/{domain_id}/dkim")
    path = mail_stack.opendkim.key_path(DOMAIN, "mail")
    assert path.exists()

    response = await user_api.delete(f"/api/v1/mail/domains/{domain_id}?maildir=remove")
    assert response.status_code == 200, response.text
    assert not path.exists()
    assert DOMAIN not in (mail_stack.opendkim.config_dir / "KeyTable").read_text()
    assert DOMAIN not in (mail_stack.opendkim.config_dir / "SigningTable").read_text()
    assert mail_stack.opendkim.pid() is not None
    assert await mail_stack.opendkim.healthy()


async def test_the_signer_reports_health_and_version(mail_stack: MailStack) -> None:
    assert await mail_stack.opendkim.healthy()
    assert (await mail_stack.opendkim.version()).startswith("2.")
    assert mail_stack.opendkim.unsafe_key_folders() == []
