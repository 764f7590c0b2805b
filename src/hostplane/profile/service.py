"""Self-service on one's own account: profile, email, password, two-factor, API keys, SSH keys, activity."""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import secrets
import string
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import validation
from hostplane.activity import log as activity
from hostplane.activity.events import Event
from hostplane.auth import totp
from hostplane.auth.models import ApiKey, RecoveryCode, User
from hostplane.auth.principal import SCOPE_PATTERN, Principal
from hostplane.auth.service import API_KEY_ID_LENGTH, API_KEY_PREFIX, API_KEY_SECRET_LENGTH, AuthService
from hostplane.auth.users import clear_two_factor, lock_user
from hostplane.errors import Conflict, FieldProblem, InvalidInput, LimitReached, NotFound
from hostplane.panel.service import PanelSettingsService
from hostplane.profile.authorized_keys import restore_ssh_keys, sync_ssh_keys
from hostplane.profile.key_rights import check_within_rights, may_manage_keys
from hostplane.profile.models import SshKey
from hostplane.runtime import Runtime
from hostplane.security.passwords import check_password_policy
from hostplane.sshkeys import SshKeyError, parse_public_key

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 10
RECOVERY_ALPHABET = string.ascii_lowercase + string.digits
KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class TwoFactorSetup:
    secret: str
    otpauth_uri: str
    qr_png_data_url: str


@dataclass(frozen=True)
class CreatedApiKey:
    key: ApiKey
    token: str
    """The full secret token, returned once and never stored."""


class Keep(enum.Enum):
    """Leave a field as it is (where None means something, such as "never expires")."""

    KEEP = "keep"


KEEP = Keep.KEEP


def _random_string(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class AccountService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.auth = AuthService(runtime)

    # --- profile -------------------------------------------------------------------------------------

    async def update_profile(
        self, principal: Principal, *, first_name: str | None, last_name: str | None, language: str | None
    ) -> User:
        values: dict[str, str] = {}
        if first_name is not None:
            values["first_name"] = validation.text(first_name, "first_name", max_length=100)
        if last_name is not None:
            values["last_name"] = validation.text(last_name, "last_name", max_length=100)
        if language is not None:
            values["language"] = validation.language(language)
        async with self.rt.writing(changes_user=principal.user.id) as db:
            user = await lock_user(db, principal.user.id)
            for name, value in values.items():
                setattr(user, name, value)
            return user

    async def change_email(self, principal: Principal, new_email: str, password: str) -> None:
        address = validation.email(new_email)
        await self.auth.confirm_password(principal, password)
        async with self.rt.writing(changes_user=principal.user.id) as db:
            taken = await db.scalar(select(User.id).where(User.email == address, User.id != principal.user.id))
            if taken is not None:
                raise InvalidInput.on("email", "The email has already been taken.", "unique")
            old = principal.user.email
            await db.execute(update(User).where(User.id == principal.user.id).values(email=address))
            activity.record(db, Event.EMAIL_CHANGED, principal.actor, user_id=principal.user.id, old=old, new=address)

    async def change_password(self, principal: Principal, current: str, new: str, confirmation: str) -> None:
        """Change the password and end every other session of the account."""
        if new != confirmation:
            raise InvalidInput.on("password_confirmation", "The password confirmation does not match.", "confirmed")
        check_password_policy(new, self.rt.settings, username=principal.user.username)
        await self.auth.confirm_password(principal, current, field="current_password")
        new_hash = await self.rt.hashing.hash(new)
        async with self.rt.writing(changes_user=principal.user.id) as db:
            await db.execute(update(User).where(User.id == principal.user.id).values(password_hash=new_hash))
            await self.auth.end_other_sessions(
                db, principal.user.id, keep=principal.session_id, now=self.rt.clock.now()
            )
            activity.record(db, Event.PASSWORD_CHANGED, principal.actor, user_id=principal.user.id)

    # --- two-factor ----------------------------------------------------------------------------------

    async def start_two_factor(self, principal: Principal) -> TwoFactorSetup:
        """Hand out a fresh secret; it becomes active only once enable() sees a valid code for it."""
        if principal.user.twofa_enabled:
            raise Conflict("Two-factor authentication is already enabled on this account.")
        secret = totp.new_secret()
        sealed = self.rt.keyring.seal(secret.encode(), f"totp:{principal.user.id}")
        async with self.rt.writing(changes_user=principal.user.id) as db:
            await db.execute(update(User).where(User.id == principal.user.id).values(totp_pending_sealed=sealed))
        issuer = await PanelSettingsService(self.rt).two_factor_issuer()
        uri = totp.otpauth_uri(secret, principal.user.username, issuer)
        return TwoFactorSetup(secret=secret, otpauth_uri=uri, qr_png_data_url=totp.qr_png_data_url(uri))

    async def enable_two_factor(
        self, principal: Principal, code: str, password: str | None, *, secret: str | None = None
    ) -> list[str]:
        """Turn 2FA on with a valid code and the password; returns 10 recovery codes, shown this once.

        `secret`: callers that echo the secret back (as WHM does) must send the one setup handed out."""
        await self.auth.confirm_password(principal, password)
        codes = [_random_string(RECOVERY_ALPHABET, RECOVERY_CODE_LENGTH) for _ in range(RECOVERY_CODE_COUNT)]
        async with self.rt.writing(changes_user=principal.user.id) as db:
            user = await lock_user(db, principal.user.id)
            if user.twofa_enabled:
                raise Conflict("Two-factor authentication is already enabled on this account.")
            if user.totp_pending_sealed is None:
                raise InvalidInput.on("code", "Start the two-factor setup first.", "required")
            pending = self.rt.keyring.open(user.totp_pending_sealed, f"totp:{user.id}").decode()
            if secret is not None and not hmac.compare_digest(secret.strip().upper().encode(), pending.encode()):
                raise InvalidInput.on(
                    "secret", "This is not the secret generated for this account; generate a new one.", "in"
                )
            step = totp.match_step(pending, code.strip(), self.rt.clock.now().timestamp())
            if step is None:
                raise InvalidInput.on("code", "The two-factor code is invalid.", "totp")
            if user.totp_last_step is not None and step <= user.totp_last_step:
                raise InvalidInput.on("code", "This code was already used; wait for the next one.", "totp")
            user.totp_secret_sealed, user.totp_pending_sealed, user.totp_last_step = (
                user.totp_pending_sealed,
                None,
                step,
            )
            await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            db.add_all(RecoveryCode(user_id=user.id, code_hash=self.rt.keyring.keyed_hash(c)) for c in codes)
            await self.auth.end_other_sessions(db, user.id, keep=principal.session_id, now=self.rt.clock.now())
            activity.record(db, Event.TWOFA_ENABLED, principal.actor, user_id=user.id)
        return codes

    async def disable_two_factor(self, principal: Principal, password: str) -> None:
        await self.auth.confirm_password(principal, password)
        async with self.rt.writing(changes_user=principal.user.id) as db:
            user = await lock_user(db, principal.user.id)
            if not user.twofa_enabled:
                raise Conflict("Two-factor authentication is not enabled on this account.")
            await clear_two_factor(db, user)
            await self.auth.end_other_sessions(db, user.id, keep=principal.session_id, now=self.rt.clock.now())
            activity.record(db, Event.TWOFA_DISABLED, principal.actor, user_id=user.id)

    async def count_recovery_codes(self, principal: Principal) -> int:
        async with self.rt.reading() as db:
            count = await db.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == principal.user.id, RecoveryCode.used_at.is_(None))
            )
        return count or 0

    # --- API keys ------------------------------------------------------------------------------------

    async def _confirm_if_given(self, principal: Principal, password: str | None) -> None:
        """Managing keys is a matter of rights (profile/key_rights.py), not of the password; a password sent
        anyway (older clients send it) must still be the right one."""
        if password:
            await self.auth.confirm_password(principal, password)

    async def list_api_keys(self, principal: Principal) -> list[ApiKey]:
        async with self.rt.reading() as db:
            rows = await db.scalars(select(ApiKey).where(ApiKey.user_id == principal.user.id).order_by(ApiKey.id))
            return list(rows)

    def _key_allowed_ips(self, allowed_ips: list[str]) -> list[str]:
        limit = self.rt.settings.max_allowed_ips_per_key
        if len(allowed_ips) > limit:
            raise InvalidInput.on("allowed_ips", f"The allowed ips may not have more than {limit} items.", "max")
        networks: list[str] = []
        problems: list[FieldProblem] = []
        for index, entry in enumerate(allowed_ips):  # every bad entry is named, not only the first
            try:
                networks.append(validation.ip_or_cidr(entry, f"allowed_ips.{index}"))
            except InvalidInput as exc:
                problems.extend(exc.fields)
        if problems:
            raise InvalidInput(problems[0].message, fields=problems)
        return list(dict.fromkeys(networks))

    @staticmethod
    def _key_scopes(scopes: list[str]) -> list[str]:
        for index, scope in enumerate(scopes):
            if not SCOPE_PATTERN.match(scope):
                raise InvalidInput.on(f"scopes.{index}", "A scope is '<area>:read' or '<area>:write'.", "in")
        return sorted(set(scopes))

    def _key_expiry(self, expires_at: dt.datetime | None) -> dt.datetime | None:
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidInput.on("expires_at", "The expiry needs a time zone.", "date")
            if expires_at <= self.rt.clock.now():
                raise InvalidInput.on("expires_at", "The expiry must be in the future.", "after")
        return expires_at

    @staticmethod
    async def _check_description_free(
        db: AsyncSession, user_id: int, description: str, *, other_than: str | None = None
    ) -> None:
        conditions = [ApiKey.user_id == user_id, ApiKey.description == description]
        if other_than is not None:
            conditions.append(ApiKey.identifier != other_than)
        if await db.scalar(select(ApiKey.id).where(*conditions).limit(1)) is not None:
            raise Conflict(f"An API key named {description!r} already exists.")

    async def create_api_key(
        self,
        principal: Principal,
        *,
        description: str,
        scopes: list[str],
        allowed_ips: list[str],
        expires_at: dt.datetime | None,
        password: str | None = None,
        unique_description: bool = False,
    ) -> CreatedApiKey:
        """A new key, its secret returned this once. `unique_description`: the description names the key (as in
        dialects where keys are addressed by name) and must not be used by another key of the account."""
        description = validation.text(description, "description", max_length=500)
        networks = self._key_allowed_ips(allowed_ips)
        scopes = self._key_scopes(scopes)
        expires_at = self._key_expiry(expires_at)
        check_within_rights(principal, scopes=scopes, allowed_ips=networks, expires_at=expires_at)
        await self._confirm_if_given(principal, password)
        identifier = _random_string(KEY_ALPHABET, API_KEY_ID_LENGTH)
        secret = _random_string(KEY_ALPHABET, API_KEY_SECRET_LENGTH)
        async with self.rt.writing(changes_user=principal.user.id) as db:
            await lock_user(db, principal.user.id)
            count = await db.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.user_id == principal.user.id))
            if (count or 0) >= self.rt.settings.max_api_keys_per_user:
                raise LimitReached(
                    f"You have reached the account limit of {self.rt.settings.max_api_keys_per_user} API keys."
                )
            if unique_description:
                await self._check_description_free(db, principal.user.id, description)
            key = ApiKey(
                user_id=principal.user.id,
                identifier=identifier,
                secret_hash=self.rt.keyring.keyed_hash(secret),
                description=description,
                scopes=scopes,
                allowed_ips=networks,
                expires_at=expires_at,
            )
            db.add(key)
            activity.record(
                db, Event.API_KEY_CREATED, principal.actor, user_id=principal.user.id, identifier=identifier
            )
        return CreatedApiKey(key=key, token=f"{API_KEY_PREFIX}{identifier}{secret}")

    async def update_api_key(
        self,
        principal: Principal,
        identifier: str,
        *,
        description: str | None = None,
        scopes: list[str] | None = None,
        allowed_ips: list[str] | None = None,
        expires_at: dt.datetime | Keep | None = KEEP,
        password: str | None = None,
        unique_description: bool = False,
    ) -> ApiKey:
        """Change a key's description, scopes, address list or expiry (None: never expires); the secret stays.
        Whatever is left out (None, or KEEP for the expiry) is unchanged."""
        values: dict[str, object] = {}
        if description is not None:
            values["description"] = validation.text(description, "description", max_length=500)
        if scopes is not None:
            values["scopes"] = self._key_scopes(scopes)
        if allowed_ips is not None:
            values["allowed_ips"] = self._key_allowed_ips(allowed_ips)
        if not isinstance(expires_at, Keep):
            values["expires_at"] = self._key_expiry(expires_at)
        may_manage_keys(principal)
        await self._confirm_if_given(principal, password)
        async with self.rt.writing(changes_user=principal.user.id) as db:
            await lock_user(db, principal.user.id)
            key = await db.scalar(
                select(ApiKey).where(ApiKey.user_id == principal.user.id, ApiKey.identifier == identifier)
            )
            if key is None:
                raise NotFound("No such API key.")
            if unique_description and "description" in values:
                await self._check_description_free(
                    db, principal.user.id, str(values["description"]), other_than=identifier
                )
            for name, value in values.items():
                setattr(key, name, value)
            check_within_rights(principal, scopes=key.scopes, allowed_ips=key.allowed_ips, expires_at=key.expires_at)
            activity.record(
                db,
                Event.API_KEY_UPDATED,
                principal.actor,
                user_id=principal.user.id,
                identifier=identifier,
                changed=sorted(values),
            )
            return key

    async def find_api_key_by_token(self, principal: Principal, token: str) -> ApiKey | None:
        """The caller's own key that this full token belongs to (secret checked in constant time), or None."""
        body = token.removeprefix(API_KEY_PREFIX)
        if len(body) != API_KEY_ID_LENGTH + API_KEY_SECRET_LENGTH or not (body.isascii() and body.isalnum()):
            return None
        identifier, secret = body[:API_KEY_ID_LENGTH], body[API_KEY_ID_LENGTH:]
        async with self.rt.reading() as db:
            key = await db.scalar(
                select(ApiKey).where(ApiKey.user_id == principal.user.id, ApiKey.identifier == identifier)
            )
        expected = key.secret_hash if key is not None else "0" * 64
        matches = hmac.compare_digest(expected, self.rt.keyring.keyed_hash(secret))
        return key if key is not None and matches else None

    async def delete_api_key(self, principal: Principal, identifier: str, password: str | None = None) -> None:
        may_manage_keys(principal)
        await self._confirm_if_given(principal, password)
        async with self.rt.writing(changes_user=principal.user.id) as db:
            result = await db.execute(
                delete(ApiKey).where(ApiKey.user_id == principal.user.id, ApiKey.identifier == identifier)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound("No such API key.")
            activity.record(
                db, Event.API_KEY_DELETED, principal.actor, user_id=principal.user.id, identifier=identifier
            )

    # --- SSH keys ------------------------------------------------------------------------------------

    async def list_ssh_keys(self, principal: Principal) -> list[SshKey]:
        async with self.rt.reading() as db:
            rows = await db.scalars(select(SshKey).where(SshKey.user_id == principal.user.id).order_by(SshKey.id))
            return list(rows)

    async def add_ssh_key(
        self, principal: Principal, name: str, public_key: str, password: str | None = None
    ) -> SshKey:
        name = validation.text(name, "name", max_length=191, min_length=1)
        try:
            parsed = parse_public_key(public_key)
        except SshKeyError as exc:
            raise InvalidInput.on("public_key", str(exc), "ssh_key") from exc
        may_manage_keys(principal)
        await self._confirm_if_given(principal, password)
        key = SshKey(
            user_id=principal.user.id,
            name=name,
            key_type=parsed.key_type,
            bits=parsed.bits,
            public_key=parsed.public_key,
            fingerprint=parsed.fingerprint,
        )
        if principal.user.has_system_account:
            await self.rt.system_users.ensure_user(principal.user.username)  # idempotent; useradd outside the unit
        try:
            async with self.rt.writing(changes_user=principal.user.id) as db:
                user = await lock_user(db, principal.user.id)
                db.add(key)
                await db.flush()
                activity.record(
                    db,
                    Event.SSH_KEY_CREATED,
                    principal.actor,
                    user_id=principal.user.id,
                    fingerprint=parsed.fingerprint,
                )
                await sync_ssh_keys(self.rt, db, user)  # fails -> the key row rolls back
        except IntegrityError as exc:
            raise InvalidInput.on(
                "public_key", "The public key provided already exists for your account.", "unique"
            ) from exc
        except BaseException:
            await restore_ssh_keys(self.rt, principal.user.id)
            raise
        return key

    async def remove_ssh_key(self, principal: Principal, fingerprint: str, password: str | None = None) -> None:
        validation.reject_control_chars("fingerprint", fingerprint)
        may_manage_keys(principal)
        await self._confirm_if_given(principal, password)
        async with self.rt.writing(changes_user=principal.user.id) as db:
            user = await lock_user(db, principal.user.id)
            result = await db.execute(
                delete(SshKey).where(SshKey.user_id == principal.user.id, SshKey.fingerprint == fingerprint)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound("No SSH key with this fingerprint.")
            activity.record(
                db, Event.SSH_KEY_DELETED, principal.actor, user_id=principal.user.id, fingerprint=fingerprint
            )
            await sync_ssh_keys(self.rt, db, user)  # fails -> the key stays, in the database and in the file

    # --- activity ------------------------------------------------------------------------------------

    async def activity(
        self,
        principal: Principal,
        *,
        event: str | None = None,
        events: Collection[str] | None = None,
        page: int,
        per_page: int,
        newest_first: bool = True,
    ) -> activity.ActivityPage:
        """A page of the account's own activity: of one event or prefix (`event`), of a set of events (`events`),
        newest or oldest first."""
        async with self.rt.reading() as db:
            return await activity.list_activity(
                db,
                user_id=principal.user.id,
                event=event,
                events=events,
                page=page,
                per_page=per_page,
                newest_first=newest_first,
            )
