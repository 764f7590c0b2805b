"""Logging in and proving who you are: passwords, the second factor, sessions, API keys.

Every check that can be guessed at is throttled, every outcome is logged, and an unknown user costs the same
time and gets the same answer as a wrong password.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import validation
from hostplane.activity import log as activity
from hostplane.activity.events import Event
from hostplane.activity.log import Actor
from hostplane.auth import totp
from hostplane.auth.models import ApiKey, AuthSession, LoginChallenge, RecoveryCode, User
from hostplane.auth.principal import Client, Principal
from hostplane.auth.tokens import decode_access_token, issue_access_token
from hostplane.auth.users import find_by_login_name
from hostplane.errors import (
    AuthenticationRequired,
    HostplaneError,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    TwoFactorSetupRequired,
)
from hostplane.panel.service import two_factor_policy_on
from hostplane.runtime import Runtime
from hostplane.security.credentials import CachedCredential
from hostplane.security.passwords import has_control_chars
from hostplane.security.throttle import account_key, address_key

API_KEY_PREFIX = "hp_"
API_KEY_ID_LENGTH = 16
API_KEY_SECRET_LENGTH = 32
API_KEY_LAST_USED_RESOLUTION = dt.timedelta(seconds=60)
CHALLENGE_MAX_FAILURES = 5
NEVER = dt.timedelta(days=36500)
BAD_LOGIN = "Invalid username or password."
BAD_CODE = "The two-factor code is invalid."
SETUP_REQUIRED = "Two-factor authentication is required by policy; set it up first."


class IncorrectPassword(HostplaneError):
    """The current password given to confirm a sensitive change is wrong (the caller *is* authenticated)."""

    code = "incorrect_password"
    status = 400
    title = "Incorrect password"


@dataclass(frozen=True)
class PasswordGuess:
    """One password guess at an account, for AuthService.check_password: what it is throttled under, how its
    failure is logged, and the stored hash to check it against (None: no such account, a dummy is checked)."""

    keys: list[str]
    actor: Actor
    password_hash: str | None
    user_id: int | None
    refusal: str | None = None
    """Refuse even the right password, for this reason (a disabled account, an account of another service)."""
    failure_event: Event | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    session_id: str
    user: User


@dataclass(frozen=True)
class TwoFactorChallenge:
    challenge: str
    expires_in: int
    user_id: int


@functools.lru_cache(maxsize=4096)
def normalize_ip(ip: str) -> str:
    """Canonical text of an address, with IPv4-mapped IPv6 folded to IPv4."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def ip_allowed(ip: str, allowed: list[str]) -> bool:
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(normalize_ip(ip))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowed)


def _loggable_name(typed: str) -> str:
    """The typed login name for the log, unless it does not look like a username or an email: people
    sometimes type their password into the name field, and the log must never hold a password."""
    name = typed.strip().lower()
    try:
        return validation.email(name) if "@" in name else validation.username(name)
    except InvalidInput:
        return "(not a valid name)"


def _refuse_unusable_name(typed: str) -> None:
    """No account is named with control characters (every name grammar refuses them), so such a login fails at once,
    before the name reaches a query or a throttle key: PostgreSQL refuses NUL in text outright, as an error."""
    if has_control_chars(typed):
        raise InvalidCredentials(BAD_LOGIN)


def _normalize_recovery_code(code: str) -> str:
    return "".join(char for char in code.lower() if char.isalnum())


class AuthService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    # --- password step -------------------------------------------------------------------------------

    async def check_password(
        self, guess: PasswordGuess, password: str, *, failed: Callable[[], HostplaneError]
    ) -> bool:
        """The one throttled password check: refused at once while its keys are throttled (logged), the same
        argon2 cost whether the account exists or not, a failure counted under every key and logged, and the
        answer `failed()` for a wrong password, an unknown account and a refused one alike. Returns whether the
        stored hash should be renewed."""
        now = self.rt.clock.now()
        await self._check_throttle(guess.keys, now, guess.actor, **guess.properties)
        ok, needs_rehash = await self.rt.hashing.verify(guess.password_hash, password)
        if ok and guess.refusal is None:
            return needs_rehash
        async with self.rt.writing() as db:
            await self.rt.throttle.record_failure(db, guess.keys, now)
            if guess.failure_event is not None:
                reason = guess.refusal if ok and guess.refusal else "bad_credentials"
                activity.record(
                    db, guess.failure_event, guess.actor, user_id=guess.user_id, reason=reason, **guess.properties
                )
        raise failed()

    async def user_guess(
        self, username: str, client: Client, *, method: str, refuse: Callable[[User], str | None] | None = None
    ) -> tuple[User | None, PasswordGuess]:
        """A login guess at the account named by username or email: its failures count against the account
        itself whatever name was typed. `refuse`: a reason to refuse the account even with its right password
        (answered exactly like a wrong one); a disabled account is always refused."""
        _refuse_unusable_name(username)
        async with self.rt.reading() as db:
            user = await find_by_login_name(db, username)
        refusal = None
        if user is not None:
            refusal = "disabled" if user.disabled else refuse(user) if refuse else None
        properties = {"username": _loggable_name(username)}
        if method != "password":
            properties["method"] = method
        guess = PasswordGuess(
            keys=[account_key(user.username if user else username), address_key(client.ip)],
            actor=Actor(None, client.ip),
            password_hash=user.password_hash if user else None,
            user_id=user.id if user else None,
            refusal=refusal,
            failure_event=Event.LOGIN_FAILED,
            properties=properties,
        )
        return user, guess

    async def _renew_hash(self, user: User, password: str) -> None:
        new_hash = await self.rt.hashing.hash(password)
        async with self.rt.writing() as db:
            await db.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))

    async def login(
        self,
        username: str,
        password: str,
        client: Client,
        *,
        refuse: Callable[[User], str | None] | None = None,
    ) -> IssuedToken | TwoFactorChallenge:
        """The password step of every login: a session, or a two-factor challenge when the account has 2FA on."""
        user, guess = await self.user_guess(username, client, method="password", refuse=refuse)
        needs_rehash = await self.check_password(guess, password, failed=lambda: InvalidCredentials(BAD_LOGIN))
        assert user is not None  # check_password refuses an unknown account
        if needs_rehash:
            await self._renew_hash(user, password)
        # A login only adds a session (and stamps last_login): nothing a cached credential of the user stands
        # for changes, so the other sessions keep their cache entries (GET /account's last_login may lag by
        # the cache TTL). Dropping them here made every login cost each reader of the account a query.
        now = self.rt.clock.now()
        async with self.rt.writing() as db:
            if user.twofa_enabled:
                # The account's failures are cleared only once the second factor succeeds: a correct password
                # alone must not buy whoever knows it a fresh round of code guesses.
                return await self._open_challenge(db, user, client, now)
            await self.rt.throttle.reset(db, guess.keys[:1])
            return await self.open_session(db, user, client, now, method="password")

    async def login_with_code(
        self,
        username: str,
        password: str,
        client: Client,
        code: str | None,
        *,
        refuse: Callable[[User], str | None] | None = None,
    ) -> IssuedToken | TwoFactorChallenge:
        """Both login steps in one request, for clients that send the code with the password (OpenPanel,
        EasySuperSecureEmail, cPanel's `tfa_token`): a session; the challenge when 2FA is on and no code came;
        InvalidCredentials(BAD_CODE) for a wrong code."""
        outcome = await self.login(username, password, client, refuse=refuse)
        if isinstance(outcome, TwoFactorChallenge) and code is not None and code.strip():
            return await self.complete_two_factor(outcome.challenge, code, client)
        return outcome

    async def _check_throttle(self, keys: list[str], now: dt.datetime, actor: Actor, **properties: str) -> None:
        async with self.rt.reading() as db:
            try:
                await self.rt.throttle.check(db, keys, now)
            except TooManyAttempts as blocked:
                error = blocked
            else:
                return
        async with self.rt.writing() as db:
            activity.record(db, Event.LOGIN_THROTTLED, actor, user_id=actor.user_id, **properties)
        raise error

    async def _open_challenge(
        self, db: AsyncSession, user: User, client: Client, now: dt.datetime
    ) -> TwoFactorChallenge:
        token = secrets.token_urlsafe(32)
        lifetime = self.rt.settings.login_challenge_seconds
        db.add(
            LoginChallenge(
                token_hash=self.rt.keyring.keyed_hash(token),
                user_id=user.id,
                expires_at=now + dt.timedelta(seconds=lifetime),
                ip=client.ip,
            )
        )
        activity.record(db, Event.TWOFA_CHALLENGE, Actor(user.id, client.ip), user_id=user.id)
        return TwoFactorChallenge(challenge=token, expires_in=lifetime, user_id=user.id)

    async def open_session(
        self, db: AsyncSession, user: User, client: Client, now: dt.datetime, *, method: str
    ) -> IssuedToken:
        lifetime = self.rt.settings.access_token_seconds
        session_id = secrets.token_urlsafe(32)
        expires_at = now + dt.timedelta(seconds=lifetime)
        db.add(
            AuthSession(
                id=session_id,
                user_id=user.id,
                expires_at=expires_at,
                ip=client.ip,
                user_agent=client.user_agent[:255],
                method=method,
            )
        )
        await db.execute(update(User).where(User.id == user.id).values(last_login_at=now, last_login_ip=client.ip))
        activity.record(db, Event.LOGIN_OK, Actor(user.id, client.ip), user_id=user.id, method=method)
        token = issue_access_token(
            self.rt.keyring.signing_key, user_id=user.id, session_id=session_id, issued_at=now, expires_at=expires_at
        )
        return IssuedToken(token=token, expires_in=lifetime, session_id=session_id, user=user)

    # --- second factor -------------------------------------------------------------------------------

    async def complete_two_factor(self, challenge: str, code: str, client: Client) -> IssuedToken:
        """Second login step: a TOTP code or a recovery code against a live challenge."""
        now = self.rt.clock.now()
        challenge_hash = self.rt.keyring.keyed_hash(challenge)
        async with self.rt.reading() as db:
            row = await db.execute(
                select(LoginChallenge, User)
                .join(User, User.id == LoginChallenge.user_id)
                .where(
                    LoginChallenge.token_hash == challenge_hash,
                    LoginChallenge.used_at.is_(None),
                    LoginChallenge.expires_at > now,
                )
            )
            found = row.one_or_none()
        if found is None:
            async with self.rt.writing() as db:
                await self.rt.throttle.record_failure(db, [address_key(client.ip)], now)
                activity.record(db, Event.TWOFA_FAILED, Actor(None, client.ip), user_id=None, reason="no_challenge")
            raise InvalidCredentials("The login challenge is invalid or has expired; log in again.")
        ticket, user = found
        keys = [account_key(user.username), address_key(client.ip)]
        actor = Actor(user.id, client.ip)
        await self._check_throttle(keys, now, actor, step="2fa")
        async with self.rt.writing() as db:
            method = await self._accept_second_factor(db, user, code, actor) if not user.disabled else None
            if method is not None:
                claimed = await db.execute(
                    update(LoginChallenge)
                    .where(LoginChallenge.token_hash == challenge_hash, LoginChallenge.used_at.is_(None))
                    .values(used_at=now)
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    await self.rt.throttle.reset(db, keys[:1])
                    return await self.open_session(db, user, client, now, method=method)
        async with self.rt.writing() as db:
            await self.rt.throttle.record_failure(db, keys, now)
            burn = ticket.failures + 1 >= CHALLENGE_MAX_FAILURES
            await db.execute(
                update(LoginChallenge)
                .where(LoginChallenge.token_hash == challenge_hash)
                .values(failures=LoginChallenge.failures + 1, used_at=now if burn else None)
            )
        raise InvalidCredentials(BAD_CODE)

    async def _accept_second_factor(self, db: AsyncSession, user: User, code: str, actor: Actor) -> str | None:
        """'totp' or 'recovery' when the code is accepted (and consumed); None otherwise, with the reason logged."""
        code = code.strip().replace(" ", "")
        if len(code) == totp.DIGITS and code.isascii() and code.isdigit():
            return "totp" if await self.accept_totp(db, user, code, actor) else None
        if await self._consume_recovery_code(db, user.id, code):
            remaining = await self._count_unused_recovery_codes(db, user.id)
            activity.record(db, Event.RECOVERY_CODE_USED, actor, user_id=user.id, remaining=remaining)
            return "recovery"
        activity.record(db, Event.TWOFA_FAILED, actor, user_id=user.id, reason="bad_recovery_code")
        return None

    async def accept_totp(self, db: AsyncSession, user: User, code: str, actor: Actor) -> bool:
        """Check a code against the active secret and burn its time step; a step already used is a replay."""
        if user.totp_secret_sealed is None:
            return False
        secret = self.rt.keyring.open(user.totp_secret_sealed, f"totp:{user.id}").decode()
        step = totp.match_step(secret, code, self.rt.clock.now().timestamp())
        if step is None:
            activity.record(db, Event.TWOFA_FAILED, actor, user_id=user.id, reason="bad_totp")
            return False
        if not await self.burn_totp_step(db, user.id, step):
            activity.record(db, Event.TWOFA_REPLAY, actor, user_id=user.id)
            return False
        return True

    @staticmethod
    async def burn_totp_step(db: AsyncSession, user_id: int, step: int) -> bool:
        """Atomically move the user's last accepted step forward; False if this step (or a later one) was used."""
        result = await db.execute(
            update(User)
            .where(User.id == user_id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
            .values(totp_last_step=step)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def _consume_recovery_code(self, db: AsyncSession, user_id: int, code: str) -> bool:
        normalized = _normalize_recovery_code(code)
        if not normalized:
            return False
        result = await db.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == self.rt.keyring.keyed_hash(normalized),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=self.rt.clock.now())
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    @staticmethod
    async def _count_unused_recovery_codes(db: AsyncSession, user_id: int) -> int:
        rows = await db.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        return len(rows.all())

    # --- authenticating requests ---------------------------------------------------------------------

    async def authenticate(self, credential: str, client: Client, *, two_factor_setup: bool = False) -> Principal:
        """Resolve a bearer credential (session JWT or API key) to a principal: from the credential cache, or
        with one query.

        While the two-factor policy is on, a session of an account without two-factor may only set it up: the
        caller says so with `two_factor_setup` (the routes of the setup itself); everything else is refused.
        API keys are not logins and are not held to the policy (as in cPanel, where API tokens bypass 2FA).
        """
        now = self.rt.clock.now()
        look_up = self._look_up_api_key if credential.startswith(API_KEY_PREFIX) else self._look_up_session
        cached = await self.rt.credentials.get_or_load(credential, now, look_up)
        if cached.two_factor_setup_required and not two_factor_setup:
            raise TwoFactorSetupRequired(SETUP_REQUIRED)
        if cached.api_key_identifier is None:
            return Principal(user=cached.user, client=client, session_id=cached.session_id)
        if not ip_allowed(client.ip, list(cached.allowed_ips)):
            actor = Actor(cached.user.id, client.ip, cached.api_key_identifier)
            async with self.rt.writing() as db:
                activity.record(
                    db, Event.API_KEY_DENIED_IP, actor, user_id=cached.user.id, identifier=cached.api_key_identifier
                )
            raise PermissionDenied("This API key may not be used from this address.")
        last_used = cached.api_key_last_used_at
        if last_used is None or now - last_used >= API_KEY_LAST_USED_RESOLUTION:
            async with self.rt.writing() as db:
                await db.execute(
                    update(ApiKey).where(ApiKey.identifier == cached.api_key_identifier).values(last_used_at=now)
                )
            self.rt.credentials.note_use(credential, now)
        return Principal(
            user=cached.user,
            client=client,
            api_key_identifier=cached.api_key_identifier,
            scopes=cached.scopes,
            allowed_ips=cached.allowed_ips,
            key_expires_at=cached.api_key_expires_at,
        )

    async def _look_up_session(self, credential: str, now: dt.datetime) -> CachedCredential:
        claims = decode_access_token(self.rt.keyring.signing_key, credential, now)
        if claims is None:
            raise AuthenticationRequired("The access token is invalid or has expired.")
        async with self.rt.reading() as db:
            found = (
                await db.execute(
                    select(User, AuthSession.expires_at)
                    .join(AuthSession, AuthSession.user_id == User.id)
                    .where(
                        AuthSession.id == claims.session_id,
                        AuthSession.user_id == claims.user_id,
                        AuthSession.revoked_at.is_(None),
                        AuthSession.expires_at > now,
                        User.disabled.is_(False),
                    )
                )
            ).one_or_none()
            policy = found is not None and not found[0].twofa_enabled and await two_factor_policy_on(db)
        if found is None:
            raise AuthenticationRequired("The session has ended; log in again.")
        user, session_expires = found
        return CachedCredential(
            user=user,
            valid_until=min(session_expires, claims.expires_at),
            session_id=claims.session_id,
            two_factor_setup_required=policy,
        )

    async def authenticate_password(
        self,
        username: str,
        password: str,
        client: Client,
        *,
        otp: str | None = None,
        two_factor_setup: bool = False,
    ) -> Principal:
        """A stateless login for one request (HTTP Basic in the dialects): the same password check, throttling
        and logging as login(), but no session. An account with two-factor on must send a current TOTP code
        (`otp`), which is burnt like any other: one code, one request. The two-factor policy holds as for
        sessions."""
        user, guess = await self.user_guess(username, client, method="basic")
        needs_rehash = await self.check_password(guess, password, failed=lambda: InvalidCredentials(BAD_LOGIN))
        assert user is not None  # check_password refuses an unknown account
        actor = Actor(user.id, client.ip)
        if user.twofa_enabled:
            async with self.rt.writing() as db:
                accepted = otp is not None and await self.accept_totp(db, user, otp.strip(), actor)
                if not accepted:
                    await self.rt.throttle.record_failure(db, guess.keys, self.rt.clock.now())
                    if otp is None:
                        activity.record(db, Event.TWOFA_FAILED, actor, user_id=user.id, reason="missing_totp")
            if not accepted:
                raise InvalidCredentials(BAD_CODE)
        elif not two_factor_setup:
            async with self.rt.reading() as db:
                if await two_factor_policy_on(db):
                    raise TwoFactorSetupRequired(SETUP_REQUIRED)
        if needs_rehash:
            await self._renew_hash(user, password)
        return Principal(user=user, client=client)

    async def _look_up_api_key(self, credential: str, now: dt.datetime) -> CachedCredential:
        body = credential[len(API_KEY_PREFIX) :]
        if len(body) != API_KEY_ID_LENGTH + API_KEY_SECRET_LENGTH or not body.isalnum() or not body.isascii():
            raise AuthenticationRequired("The API key is invalid.")
        identifier, secret = body[:API_KEY_ID_LENGTH], body[API_KEY_ID_LENGTH:]
        async with self.rt.reading() as db:
            found = (
                await db.execute(select(ApiKey, User).join(User).where(ApiKey.identifier == identifier))
            ).one_or_none()
        expected = found[0].secret_hash if found else "0" * 64
        matches = hmac.compare_digest(expected, self.rt.keyring.keyed_hash(secret))
        if found is None or not matches:
            raise AuthenticationRequired("The API key is invalid.")
        key, user = found
        if user.disabled or (key.expires_at is not None and key.expires_at <= now):
            raise AuthenticationRequired("The API key has expired or its account is disabled.")
        return CachedCredential(
            user=user,
            valid_until=key.expires_at or now + NEVER,
            api_key_identifier=key.identifier,
            scopes=tuple(key.scopes or ()),
            allowed_ips=tuple(key.allowed_ips or ()),
            api_key_expires_at=key.expires_at,
            api_key_last_used_at=key.last_used_at,
        )

    # --- sessions ------------------------------------------------------------------------------------

    async def list_sessions(self, principal: Principal) -> list[AuthSession]:
        async with self.rt.reading() as db:
            rows = await db.scalars(
                select(AuthSession)
                .where(
                    AuthSession.user_id == principal.user.id,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > self.rt.clock.now(),
                )
                .order_by(AuthSession.created_at.desc())
            )
            return list(rows)

    async def revoke_session(self, principal: Principal, session_id: str) -> None:
        async with self.rt.writing(changes_user=principal.user.id) as db:
            result = await db.execute(
                update(AuthSession)
                .where(
                    AuthSession.id == session_id,
                    AuthSession.user_id == principal.user.id,
                    AuthSession.revoked_at.is_(None),
                )
                .values(revoked_at=self.rt.clock.now())
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound("No such session.")
            event = Event.LOGOUT if session_id == principal.session_id else Event.SESSION_REVOKED
            activity.record(db, event, principal.actor, user_id=principal.user.id)

    async def logout(self, principal: Principal) -> None:
        if principal.session_id is None:
            raise InvalidInput("An API key has no session to log out of; delete the key instead.")
        await self.revoke_session(principal, principal.session_id)

    @staticmethod
    async def end_other_sessions(db: AsyncSession, user_id: int, keep: str | None, *, now: dt.datetime) -> None:
        """Revoke every live session of the user but `keep` (the one making the change, if any)."""
        conditions = [AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)]
        if keep is not None:
            conditions.append(AuthSession.id != keep)
        await db.execute(update(AuthSession).where(*conditions).values(revoked_at=now))

    # --- proving the password again ------------------------------------------------------------------

    async def confirm_password(self, principal: Principal, password: str | None, *, field: str = "password") -> None:
        """Check the current password before a sensitive change; wrong guesses are throttled and logged."""
        if not password:
            raise InvalidInput.on(field, "The current password is required for this change.", "required")
        async with self.rt.reading() as db:
            stored = await db.scalar(select(User.password_hash).where(User.id == principal.user.id))
        guess = PasswordGuess(
            keys=[account_key(principal.user.username), address_key(principal.client.ip)],
            actor=principal.actor,
            password_hash=stored,
            user_id=principal.user.id,
            failure_event=Event.PASSWORD_CHECK_FAILED,
            properties={"step": "password_confirmation"},
        )
        await self.check_password(
            guess, password, failed=lambda: IncorrectPassword("The password provided is incorrect.")
        )
