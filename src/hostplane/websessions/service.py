"""Browser sessions of the cPanel-style services: a cookie plus a `/cpsess##########` security token.

The rules, whatever the dialect in front:
- Three services, one per port: cpaneld (hosting users, user port), whostmgrd (administrators, admin port) and
  webmaild (mailboxes, webmail port). A session is good only for the service it was opened on; an account of
  another service is refused exactly like a wrong password (same answer, same cost, same throttling).
- A panel user's login goes through AuthService.login (throttling, rehash, two-factor, activity) and the web
  session hangs on the AuthSession it opens, so whatever ends sessions in the core (logout, password change,
  two-factor change, disabling the account, an admin's reset) ends the web session too.
- A mailbox session keeps a keyed hash of the mailbox's password hash: a password change ends it.
- Every request needs the cookie AND the session's token in its path; a session unused for
  `web_session_idle_seconds` has ended, and none outlives `access_token_seconds`.
- The cookie secret and one-time tickets are stored only as keyed hashes; a ticket works once, before it expires.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import validation
from hostplane.activity import log as activity
from hostplane.activity.events import Event
from hostplane.activity.log import Actor
from hostplane.auth.models import AuthSession, User
from hostplane.auth.principal import Client, Principal
from hostplane.auth.service import BAD_CODE, AuthService, PasswordGuess, TwoFactorChallenge
from hostplane.auth.users import find_by_login_name
from hostplane.errors import HostplaneError, InvalidCredentials, InvalidInput, NotFound
from hostplane.mail.models import Mailbox, MailDomain
from hostplane.panel.service import two_factor_policy_on
from hostplane.runtime import Runtime
from hostplane.security.throttle import account_key, address_key
from hostplane.websessions.models import WebLoginTicket, WebSession

CPANELD, WHOSTMGRD, WEBMAILD = "cpaneld", "whostmgrd", "webmaild"
SERVICES = (CPANELD, WHOSTMGRD, WEBMAILD)
COOKIE_NAMES = {CPANELD: "cpsession", WHOSTMGRD: "whostmgrsession", WEBMAILD: "webmailsession"}
TOKEN_DIGITS = 10
SECURITY_TOKEN = re.compile(r"^/?cpsess(?P<digits>\d{10})$")
TICKET_SECRET = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
TOUCH_RESOLUTION = dt.timedelta(seconds=15)
MAX_GOTO_LENGTH = 1024
WEB_LOGIN_METHOD = "login_url"


class WebLoginRefused(HostplaneError):
    """Wrong name or password, an account of another service, a used or expired ticket: one answer for all."""

    code = "invalid_login"
    status = 401
    title = "Invalid login"


class TwoFactorCodeRequired(HostplaneError):
    code = "tfa_required"
    status = 401
    title = "Two-factor code required"


class TwoFactorCodeInvalid(HostplaneError):
    code = "tfa_invalid"
    status = 401
    title = "Invalid two-factor code"


class SessionEnded(HostplaneError):
    """No cookie, an unknown one, or a session that expired, went idle or was ended."""

    code = "expired_session"
    status = 401
    title = "Session expired"


class TokenDenied(HostplaneError):
    """A live cookie without its session's security token in the path."""

    code = "token_denied"
    status = 401
    title = "Security token denied"


@dataclass(frozen=True)
class WebIdentity:
    service: str
    security_token: str
    """The 10 digits."""
    user: User | None
    auth_session_id: str | None
    mailbox_id: int | None
    mailbox_address: str | None
    two_factor_setup_required: bool = False

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.username
        return self.mailbox_address or ""

    def principal(self, client: Client) -> Principal:
        if self.user is None:
            raise SessionEnded("This session belongs to a mailbox, not to a panel account.")
        return Principal(user=self.user, client=client, session_id=self.auth_session_id)


@dataclass(frozen=True)
class OpenedSession:
    cookie: str
    """The cookie secret (shown once, to be set in the browser)."""
    security_token: str
    identity: WebIdentity


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    """The `session` value of the one-time URL: `<name>:<secret>:<ORIGIN>`."""
    security_token: str
    service: str
    name: str
    goto_uri: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Proven:
    """An account that proved itself for a service."""

    user: User | None
    auth_session_id: str | None
    mailbox_id: int | None
    mailbox_address: str | None
    credential_stamp: str = ""

    @property
    def name(self) -> str:
        return self.user.username if self.user is not None else self.mailbox_address or ""

    def login_columns(self, service: str, security_token: str) -> dict[str, object]:
        """The ServiceLoginColumns of a web session or login ticket this account gets for `service`."""
        return {
            "service": service,
            "security_token": security_token,
            "user_id": self.user.id if self.user else None,
            "auth_session_id": self.auth_session_id,
            "mailbox_id": self.mailbox_id,
            "credential_stamp": self.credential_stamp,
        }


def security_token_digits(value: str | None) -> str | None:
    """The 10 digits of `/cpsess##########` (or `cpsess##########`), None when it is not one."""
    match = SECURITY_TOKEN.match(value or "")
    return match["digits"] if match else None


def new_security_token() -> str:
    return f"{secrets.randbelow(10**TOKEN_DIGITS):0{TOKEN_DIGITS}d}"


def check_goto_uri(value: str | None) -> str:
    """A path (and query) on the same service: `/...`, never a scheme, a host (`//`), a backslash or a control
    character, at most 1024 characters. A missing value is `/`."""
    if value is None or value == "":
        return "/"
    validation.reject_control_chars("goto_uri", value)
    if (
        len(value) > MAX_GOTO_LENGTH
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or "://" in value
        or " " in value
    ):
        raise InvalidInput.on("goto_uri", "The goto_uri must be a path that starts with a single '/'.", "regex")
    return value


def service_accepts(service: str, user: User) -> bool:
    """whostmgrd is the administrators' service, cpaneld the hosting users'."""
    return user.is_admin if service == WHOSTMGRD else not user.is_admin


def _check_service(service: str) -> str:
    if service not in SERVICES:
        raise InvalidInput.on("service", f"The service must be one of: {', '.join(SERVICES)}.", "in")
    return service


class WebSessionService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.auth = AuthService(runtime)

    # --- proving who you are ---------------------------------------------------------------------------

    async def prove(
        self, service: str, username: str, password: str, client: Client, *, tfa_token: str | None = None
    ) -> Proven:
        _check_service(service)
        if service == WEBMAILD:
            return await self._prove_mailbox(username, password, client)
        return await self._prove_user(service, username, password, client, tfa_token)

    async def _prove_user(
        self, service: str, username: str, password: str, client: Client, tfa_token: str | None
    ) -> Proven:
        """The core login (throttling, enumeration defence, rehash, two-factor, activity); an account of another
        service is refused exactly like a wrong password."""

        def other_service(user: User) -> str | None:
            return None if service_accepts(service, user) else "wrong_service"

        try:
            outcome = await self.auth.login_with_code(username, password, client, tfa_token, refuse=other_service)
        except InvalidCredentials as exc:
            if exc.detail == BAD_CODE:
                raise TwoFactorCodeInvalid("The security code is invalid.") from exc
            raise WebLoginRefused("The login is invalid.") from exc
        if isinstance(outcome, TwoFactorChallenge):
            raise TwoFactorCodeRequired("Enter the security code of your two-factor app as `tfa_token`.")
        return Proven(user=outcome.user, auth_session_id=outcome.session_id, mailbox_id=None, mailbox_address=None)

    async def _prove_mailbox(self, username: str, password: str, client: Client) -> Proven:
        """A mailbox's password, through the same throttled check as a panel login (keys `mail:<address>`)."""
        address = username.strip().lower()
        local, at, domain = address.rpartition("@")
        found: tuple[Mailbox, str] | None = None
        if at and local and domain and not validation_has_control(address):
            async with self.rt.reading() as db:
                found = await _mailbox_at(db, local, domain)
        guess = PasswordGuess(
            keys=[account_key(f"mail:{address}"), address_key(client.ip)],
            actor=Actor(None, client.ip),
            password_hash=found[0].password_hash if found else None,
            user_id=None,
        )
        await self.auth.check_password(guess, password, failed=lambda: WebLoginRefused("The login is invalid."))
        assert found is not None  # check_password refuses an unknown mailbox
        mailbox, domain_name = found
        async with self.rt.writing() as db:
            await self.rt.throttle.reset(db, guess.keys[:1])
        return Proven(
            user=None,
            auth_session_id=None,
            mailbox_id=mailbox.id,
            mailbox_address=f"{mailbox.local_part}@{domain_name}",
            credential_stamp=self._stamp(mailbox.password_hash),
        )

    def _stamp(self, password_hash: str) -> str:
        return self.rt.keyring.keyed_hash(f"mailbox-password:{password_hash}")

    # --- opening sessions ------------------------------------------------------------------------------

    async def login(
        self,
        service: str,
        username: str,
        password: str,
        client: Client,
        *,
        tfa_token: str | None = None,
        reuse_token: str | None = None,
    ) -> OpenedSession:
        """A password login (and the two-factor code where needed) that opens a session on the service; with
        `reuse_token` the session keeps that security token while one of the account's sessions still holds it."""
        proven = await self.prove(service, username, password, client, tfa_token=tfa_token)
        now = self.rt.clock.now()
        async with self.rt.writing() as db:
            token = await self._token_for(db, service, proven, reuse_token, now)
            return await self._open(db, service, proven, token, client, now)

    async def login_ticket(
        self,
        service: str,
        username: str,
        password: str,
        client: Client,
        *,
        goto_uri: str | None = "/",
        tfa_token: str | None = None,
        reuse_token: str | None = None,
    ) -> IssuedTicket:
        """The same login, handed over as a one-time URL for a browser (the remote-login library call)."""
        goto = check_goto_uri(goto_uri)
        proven = await self.prove(service, username, password, client, tfa_token=tfa_token)
        now = self.rt.clock.now()
        async with self.rt.writing() as db:
            token = await self._token_for(db, service, proven, reuse_token, now)
            return self._add_ticket(db, service, proven, token, goto, client, now, origin="LOGIN_URL")

    async def issue_ticket(self, principal: Principal, service: str, name: str, *, goto_uri: str = "/") -> IssuedTicket:
        """An administrator's one-time login URL for an existing, enabled account of the service (WHM
        create_user_session): a hosting user (cpaneld), an administrator (whostmgrd) or a mailbox (webmaild)."""
        _check_service(service)
        goto = check_goto_uri(goto_uri)
        proven = await self._target(service, name)
        now = self.rt.clock.now()
        async with self.rt.writing() as db:
            issued = self._add_ticket(
                db, service, proven, new_security_token(), goto, principal.client, now, origin="CREATE_USER_SESSION"
            )
            activity.record(
                db, Event.ONE_TIME_LOGIN_CREATED, principal.actor, user_id=proven.user.id if proven.user else None,
                service=service,
            )  # fmt: skip
        return issued

    async def _target(self, service: str, name: str) -> Proven:
        validation.reject_control_chars("user", name)
        wanted = name.strip().lower()
        async with self.rt.reading() as db:
            if service == WEBMAILD:
                local, _, domain = wanted.rpartition("@")
                found = await _mailbox_at(db, local, domain)
                if found is None:
                    raise NotFound(f"No mailbox “{wanted[:254]}” exists.")
                mailbox, domain_name = found
                return Proven(
                    user=None,
                    auth_session_id=None,
                    mailbox_id=mailbox.id,
                    mailbox_address=f"{mailbox.local_part}@{domain_name}",
                    credential_stamp=self._stamp(mailbox.password_hash),
                )
            user = await find_by_login_name(db, wanted)
        if user is None:
            raise NotFound(f"The user “{wanted[:64]}” does not exist.")
        if user.disabled:
            raise InvalidInput.on("user", f"The user “{user.username}” is disabled.", "enabled")
        if not service_accepts(service, user):
            kind = "an administrator" if service == WHOSTMGRD else "a hosting user"
            raise InvalidInput.on("service", f"The user “{user.username}” is not {kind} ({service}).", "in")
        return Proven(user=user, auth_session_id=None, mailbox_id=None, mailbox_address=None)

    def _add_ticket(
        self,
        db: AsyncSession,
        service: str,
        proven: Proven,
        token: str,
        goto: str,
        client: Client,
        now: dt.datetime,
        *,
        origin: str,
    ) -> IssuedTicket:
        secret = secrets.token_urlsafe(32)
        expires_at = now + dt.timedelta(seconds=self.rt.settings.one_time_login_seconds)
        db.add(
            WebLoginTicket(
                token_hash=self.rt.keyring.keyed_hash(f"ticket:{secret}"),
                **proven.login_columns(service, token),
                goto_uri=goto,
                origin=origin,
                expires_at=expires_at,
                ip=client.ip,
            )
        )
        return IssuedTicket(
            ticket=f"{proven.name}:{secret}:{origin}",
            security_token=token,
            service=service,
            name=proven.name,
            goto_uri=goto,
            expires_at=expires_at,
        )

    async def redeem(self, service: str, ticket: str, security_token: str, client: Client) -> tuple[OpenedSession, str]:
        """Use a one-time ticket (under its own security token): the session it stands for, and where to go.
        Used, expired, unknown, under another token or made for another service: refused, all alike."""
        parts = ticket.split(":")
        secret = parts[1] if len(parts) >= 2 else ""
        if not TICKET_SECRET.match(secret):
            raise WebLoginRefused("The login URL is invalid or has expired.")
        token_hash = self.rt.keyring.keyed_hash(f"ticket:{secret}")
        now = self.rt.clock.now()
        async with self.rt.writing() as db:
            claimed = await db.execute(
                update(WebLoginTicket)
                .where(
                    WebLoginTicket.token_hash == token_hash,
                    WebLoginTicket.service == service,
                    WebLoginTicket.security_token == security_token,
                    WebLoginTicket.used_at.is_(None),
                    WebLoginTicket.expires_at > now,
                )
                .values(used_at=now)
            )
            row = await db.get(WebLoginTicket, token_hash) if claimed.rowcount == 1 else None  # type: ignore[attr-defined]
            proven = await self._ticket_holder(db, row, client, now) if row is not None else None
            opened = await self._open(db, service, proven, row.security_token, client, now) if row and proven else None
            goto = row.goto_uri if row is not None else "/"
        if opened is None:
            raise WebLoginRefused("The login URL is invalid or has expired.")
        return opened, goto

    async def _ticket_holder(
        self, db: AsyncSession, row: WebLoginTicket, client: Client, now: dt.datetime
    ) -> Proven | None:
        if row.mailbox_id is not None:
            mailbox = await db.get(Mailbox, row.mailbox_id)
            if mailbox is None or not hmac.compare_digest(self._stamp(mailbox.password_hash), row.credential_stamp):
                return None
            domain = await db.get(MailDomain, mailbox.domain_id)
            address = f"{mailbox.local_part}@{domain.name if domain else ''}"
            return Proven(None, None, mailbox.id, address, row.credential_stamp)
        user = await db.get(User, row.user_id) if row.user_id is not None else None
        if user is None or user.disabled or not service_accepts(row.service, user):
            return None
        if row.auth_session_id is not None:
            live = await db.scalar(
                select(AuthSession.id).where(
                    AuthSession.id == row.auth_session_id,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > now,
                )
            )
            return Proven(user, row.auth_session_id, None, None) if live else None
        issued = await self.auth.open_session(db, user, client, now, method=WEB_LOGIN_METHOD)
        return Proven(user, issued.session_id, None, None)

    async def _token_for(
        self, db: AsyncSession, service: str, proven: Proven, reuse_token: str | None, now: dt.datetime
    ) -> str:
        """The reused token when one of the account's live sessions (or unused tickets) of the service holds it;
        a fresh one otherwise."""
        digits = security_token_digits(reuse_token) or (reuse_token if (reuse_token or "").isdigit() else None)
        if digits is None or len(digits) != TOKEN_DIGITS:
            return new_security_token()
        owner = WebSession.user_id == proven.user.id if proven.user else WebSession.mailbox_id == proven.mailbox_id
        idle_limit = now - dt.timedelta(seconds=self.rt.settings.web_session_idle_seconds)
        live = await db.scalar(
            select(WebSession.id).where(
                owner,
                WebSession.service == service,
                WebSession.security_token == digits,
                WebSession.ended_at.is_(None),
                WebSession.expires_at > now,
                WebSession.last_seen_at > idle_limit,
            )
        )
        if live is None:
            ticket_owner = (
                WebLoginTicket.user_id == proven.user.id
                if proven.user
                else WebLoginTicket.mailbox_id == proven.mailbox_id
            )
            live = await db.scalar(
                select(WebLoginTicket.token_hash).where(
                    ticket_owner,
                    WebLoginTicket.service == service,
                    WebLoginTicket.security_token == digits,
                    WebLoginTicket.used_at.is_(None),
                    WebLoginTicket.expires_at > now,
                )
            )
        return digits if live is not None else new_security_token()

    async def _open(
        self, db: AsyncSession, service: str, proven: Proven, token: str, client: Client, now: dt.datetime
    ) -> OpenedSession:
        cookie = secrets.token_urlsafe(32)
        db.add(
            WebSession(
                id=self.rt.keyring.keyed_hash(f"web:{cookie}"),
                **proven.login_columns(service, token),
                last_seen_at=now,
                expires_at=now + dt.timedelta(seconds=self.rt.settings.access_token_seconds),
                ip=client.ip,
            )
        )
        identity = WebIdentity(
            service=service,
            security_token=token,
            user=proven.user,
            auth_session_id=proven.auth_session_id,
            mailbox_id=proven.mailbox_id,
            mailbox_address=proven.mailbox_address,
        )
        return OpenedSession(cookie=cookie, security_token=token, identity=identity)

    # --- using sessions --------------------------------------------------------------------------------

    async def resolve(self, service: str, cookie: str | None, security_token: str | None) -> WebIdentity:
        """The identity of a request: its cookie must be a live session of this service and its path must carry
        that session's token. Each use moves the idle deadline on."""
        if not cookie or len(cookie) > 128:
            raise SessionEnded("There is no session; log in again.")
        now = self.rt.clock.now()
        session_id = self.rt.keyring.keyed_hash(f"web:{cookie}")
        async with self.rt.reading() as db:
            row = await db.scalar(
                select(WebSession).where(
                    WebSession.id == session_id, WebSession.service == service, WebSession.ended_at.is_(None)
                )
            )
            if row is None:
                raise SessionEnded("The session has ended; log in again.")
            if security_token is None or not hmac.compare_digest(row.security_token, security_token):
                raise TokenDenied("The security token is missing or does not belong to this session.")
            idle_limit = now - dt.timedelta(seconds=self.rt.settings.web_session_idle_seconds)
            if row.last_seen_at <= idle_limit or row.expires_at <= now:
                raise SessionEnded("The session has expired; log in again.")
            identity = await self._identity(db, row, now)
        if identity is None:
            raise SessionEnded("The session has ended; log in again.")
        if now - row.last_seen_at >= TOUCH_RESOLUTION:
            async with self.rt.writing() as db:
                await db.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now))
        return identity

    async def _identity(self, db: AsyncSession, row: WebSession, now: dt.datetime) -> WebIdentity | None:
        if row.mailbox_id is not None:
            found = (
                await db.execute(
                    select(Mailbox, MailDomain.name)
                    .join(MailDomain, MailDomain.id == Mailbox.domain_id)
                    .where(Mailbox.id == row.mailbox_id)
                )
            ).one_or_none()
            if found is None or not hmac.compare_digest(self._stamp(found[0].password_hash), row.credential_stamp):
                return None
            return WebIdentity(
                row.service, row.security_token, None, None, row.mailbox_id, f"{found[0].local_part}@{found[1]}"
            )
        user = await db.scalar(
            select(User)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(
                AuthSession.id == row.auth_session_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
                User.disabled.is_(False),
            )
        )
        if user is None or not service_accepts(row.service, user):
            return None
        policy = not user.twofa_enabled and await two_factor_policy_on(db)
        return WebIdentity(row.service, row.security_token, user, row.auth_session_id, None, None, policy)

    async def end(self, service: str, cookie: str | None) -> None:
        """Log out: the session ends, and with it the login behind it (a panel user's AuthSession)."""
        if not cookie or len(cookie) > 128:
            return
        session_id = self.rt.keyring.keyed_hash(f"web:{cookie}")
        now = self.rt.clock.now()
        async with self.rt.reading() as db:
            row = await db.scalar(
                select(WebSession).where(
                    WebSession.id == session_id, WebSession.service == service, WebSession.ended_at.is_(None)
                )
            )
        if row is None:
            return
        async with self.rt.writing(changes_user=row.user_id) as db:
            await db.execute(update(WebSession).where(WebSession.id == session_id).values(ended_at=now))
            if row.auth_session_id is not None:
                await db.execute(
                    update(AuthSession)
                    .where(AuthSession.id == row.auth_session_id, AuthSession.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                activity.record(db, Event.LOGOUT, Actor(row.user_id, row.ip), user_id=row.user_id)


async def _mailbox_at(db: AsyncSession, local: str, domain: str) -> tuple[Mailbox, str] | None:
    """The mailbox `local@domain` with its domain's name, or None."""
    row = (
        await db.execute(
            select(Mailbox, MailDomain.name)
            .join(MailDomain, MailDomain.id == Mailbox.domain_id)
            .where(MailDomain.name == domain, Mailbox.local_part == local)
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def validation_has_control(value: str) -> bool:
    try:
        validation.reject_control_chars("user", value)
    except InvalidInput:
        return True
    return False
