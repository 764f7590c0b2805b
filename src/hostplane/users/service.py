"""What an administrator does to other accounts; shared by the admin API and the CLI."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hostplane import validation
from hostplane.activity import log as activity
from hostplane.activity.events import Event
from hostplane.activity.log import Actor
from hostplane.auth.models import ROLE_ADMIN, ROLE_USER, User
from hostplane.auth.service import AuthService
from hostplane.auth.users import clear_two_factor, lock_user
from hostplane.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from hostplane.profile.authorized_keys import sync_ssh_keys
from hostplane.runtime import Runtime
from hostplane.security.passwords import check_password_policy


class UserAdminService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def create_user(
        self,
        actor: Actor,
        *,
        username: str,
        email: str,
        password: str,
        role: str = ROLE_USER,
        first_name: str = "",
        last_name: str = "",
        language: str = "en",
    ) -> User:
        if role not in (ROLE_ADMIN, ROLE_USER):
            raise InvalidInput.on("role", "The role must be 'admin' or 'user'.", "in")
        user = User(
            username=validation.username(username),
            email=validation.email(email),
            first_name=validation.text(first_name, "first_name", max_length=100),
            last_name=validation.text(last_name, "last_name", max_length=100),
            language=validation.language(language),
            role=role,
            password_hash="",
        )
        check_password_policy(password, self.rt.settings, username=user.username)
        user.password_hash = await self.rt.hashing.hash(password)
        try:
            async with self.rt.writing() as db:
                db.add(user)
                await db.flush()
                activity.record(db, Event.USER_CREATED, actor, user_id=user.id, username=user.username, role=role)
                if user.has_system_account:  # its Linux account; a failure rolls the panel user back
                    await self.rt.system_users.ensure_user(user.username)
                    await sync_ssh_keys(self.rt, db, user)
        except IntegrityError as exc:
            raise Conflict("A user with this username or email already exists.") from exc
        return user

    async def list_users(self) -> list[User]:
        async with self.rt.reading() as db:
            return list(await db.scalars(select(User).order_by(User.id)))

    async def get_user(self, user_id: int) -> User:
        async with self.rt.reading() as db:
            user = await db.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    async def find_user(self, username: str) -> User:
        async with self.rt.reading() as db:
            user = await db.scalar(select(User).where(User.username == username.strip().lower()))
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        return user

    @staticmethod
    def _not_oneself(actor: Actor, user_id: int, what: str) -> None:
        """An administrator changes their own password and two-factor from their own account, where the current
        password is asked: through the admin tools, a stolen session or API key would take the account over."""
        if actor.user_id == user_id:
            raise PermissionDenied(f"Change your own {what} from your account settings, with your password.")

    async def set_password(self, actor: Actor, user_id: int, password: str) -> None:
        """Set a new password and end all of the user's sessions."""
        self._not_oneself(actor, user_id, "password")
        user = await self.get_user(user_id)
        check_password_policy(password, self.rt.settings, username=user.username)
        new_hash = await self.rt.hashing.hash(password)
        async with self.rt.writing(changes_user=user_id) as db:
            await db.execute(update(User).where(User.id == user_id).values(password_hash=new_hash))
            await AuthService.end_other_sessions(db, user_id, keep=None, now=self.rt.clock.now())
            activity.record(db, Event.USER_PASSWORD_SET, actor, user_id=user_id)

    async def set_disabled(self, actor: Actor, user_id: int, disabled: bool) -> User:
        """Disable (ending every session at once) or enable an account; nobody disables themselves."""
        if disabled and actor.user_id == user_id:
            raise Conflict("You cannot disable your own account.")
        async with self.rt.writing(changes_user=user_id) as db:
            user = await lock_user(db, user_id)
            user.disabled = disabled
            if disabled:
                await AuthService.end_other_sessions(db, user_id, keep=None, now=self.rt.clock.now())
            event = Event.USER_DISABLED if disabled else Event.USER_ENABLED
            activity.record(db, event, actor, user_id=user_id)
            await sync_ssh_keys(self.rt, db, user)  # disabled: empty authorized_keys; enabled: the keys again
            return user

    async def reset_two_factor(self, actor: Actor, user_id: int) -> None:
        """Admin recovery for a user who lost both the device and the recovery codes."""
        self._not_oneself(actor, user_id, "two-factor authentication")
        async with self.rt.writing(changes_user=user_id) as db:
            user = await lock_user(db, user_id)
            await clear_two_factor(db, user)
            await AuthService.end_other_sessions(db, user_id, keep=None, now=self.rt.clock.now())
            activity.record(db, Event.USER_2FA_RESET, actor, user_id=user_id)

    async def activity(
        self, *, user_id: int | None, event: str | None, page: int, per_page: int
    ) -> activity.ActivityPage:
        async with self.rt.reading() as db:
            return await activity.list_activity(db, user_id=user_id, event=event, page=page, per_page=per_page)
