"""Helpers for cPanel secure remote logins: logins sent as cPanel's scripts send them (a form body to
`/login/?login_only=1`), the answers' shapes, and accounts of each service."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import update

from hostplane.mail.models import Mailbox, MailDomain
from hostplane.runtime import Runtime
from hostplane.websessions.models import WebLoginTicket, WebSession
from tests.conftest import Api

TOKEN = re.compile(r"^/cpsess\d{10}$")
LOGIN = "/login/?login_only=1"
MAILBOX_PASSWORD = "Mailb0x-pass-phrase!"


async def login(api: Api, user: str, password: str, **fields: str) -> httpx.Response:
    """The form post of cPanel's login page and of every script in the wild."""
    return await api.post(LOGIN, data={"user": user, "pass": password, **fields})


def logged_in(response: httpx.Response, cookie_name: str) -> str:
    """A successful login: 200, {status: 1, security_token, redirect} and the service's cookie; the token."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == 1
    assert TOKEN.match(body["security_token"]), body
    assert body["redirect"].startswith(body["security_token"] + "/")
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{cookie_name}="), set_cookie
    attributes = {part.strip().lower() for part in set_cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    token: str = body["security_token"]
    return token


def refused(response: httpx.Response, status: int, message: str) -> dict[str, Any]:
    """A refusal in this dialect's shape: {status: 0, message, notice}, no stack trace, no cookie."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == 0
    assert body["message"] == message
    assert isinstance(body["notice"], str) and body["notice"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert "set-cookie" not in response.headers
    return body


def clear(api: Api) -> None:
    api.http.cookies.clear()


async def make_mailbox(runtime: Runtime, owner_id: int, address: str, password: str = MAILBOX_PASSWORD) -> int:
    """A mailbox row as the mail service stores it (the login reads only the database)."""
    local, _, domain = address.partition("@")
    password_hash = await runtime.hashing.hash(password)
    async with runtime.writing() as db:
        mail_domain = MailDomain(user_id=owner_id, name=domain)
        db.add(mail_domain)
        await db.flush()
        mailbox = Mailbox(domain_id=mail_domain.id, local_part=local, password_hash=password_hash)
        db.add(mailbox)
        await db.flush()
        return mailbox.id


async def age_sessions(runtime: Runtime, seconds: float) -> None:
    """Make every web session's last use `seconds` ago."""
    import datetime as dt

    async with runtime.writing() as db:
        await db.execute(update(WebSession).values(last_seen_at=runtime.clock.now() - dt.timedelta(seconds=seconds)))


async def expire_tickets(runtime: Runtime) -> None:
    import datetime as dt

    async with runtime.writing() as db:
        await db.execute(update(WebLoginTicket).values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1)))
