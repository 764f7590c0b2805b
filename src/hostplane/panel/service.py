"""Panel-wide settings an administrator changes at run time, with defaults from Settings.

The two-factor issuer (the label authenticator apps show) and the two-factor policy (every account must have
two-factor on; accounts without it may only set it up) live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import validation
from hostplane.activity import log as activity
from hostplane.activity.events import Event
from hostplane.activity.log import Actor
from hostplane.errors import InvalidInput
from hostplane.panel.models import PanelSetting
from hostplane.runtime import Runtime

TWOFA_ISSUER = "twofactor.issuer"
TWOFA_POLICY = "twofactor.policy"
ISSUER_MAX_LENGTH = 64


async def read_setting(db: AsyncSession, key: str) -> Any:
    """The stored value of `key`, or None when it was never set."""
    return await db.scalar(select(PanelSetting.value).where(PanelSetting.key == key))


async def two_factor_policy_on(db: AsyncSession) -> bool:
    return bool(await read_setting(db, TWOFA_POLICY))


def validate_issuer(value: str, field: str = "issuer") -> str:
    """An issuer is 1 to 64 characters, no control characters and no ':' (it is the otpauth label's prefix)."""
    issuer = validation.text(value, field, max_length=ISSUER_MAX_LENGTH, min_length=1)
    if ":" in issuer:
        raise InvalidInput.on(field, "The issuer may not contain ':'.", "regex")
    return issuer


@dataclass(frozen=True)
class PanelSettings:
    """The run-time settings as they apply now (defaults filled in)."""

    two_factor_policy: bool
    two_factor_issuer: str


class PanelSettingsService:
    """Every way in (the native admin API, the CLI, the WHM dialect) reads and changes the settings here."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def current(self) -> PanelSettings:
        async with self.rt.reading() as db:
            return await self._current(db)

    async def update(
        self, actor: Actor, *, two_factor_policy: bool | None = None, two_factor_issuer: str | None = None
    ) -> PanelSettings:
        """Change the given settings (None: keep) in one unit, each change in the activity log; returns them all.
        Switching the policy drops cached credentials so it applies to live sessions at once."""
        issuer = None if two_factor_issuer is None else validate_issuer(two_factor_issuer, "two_factor_issuer")
        try:
            async with self.rt.writing() as db:
                if issuer is not None:
                    await self._store(db, TWOFA_ISSUER, issuer)
                    activity.record(db, Event.PANEL_2FA_ISSUER_SET, actor, user_id=actor.user_id, issuer=issuer)
                if two_factor_policy is not None:
                    await self._store(db, TWOFA_POLICY, two_factor_policy)
                    event = Event.PANEL_2FA_POLICY_ENABLED if two_factor_policy else Event.PANEL_2FA_POLICY_DISABLED
                    activity.record(db, event, actor, user_id=actor.user_id)
                await db.flush()
                return await self._current(db)
        finally:
            if two_factor_policy is not None:
                self.rt.credentials.clear()

    async def _current(self, db: AsyncSession) -> PanelSettings:
        return PanelSettings(two_factor_policy=await two_factor_policy_on(db), two_factor_issuer=await self._issuer(db))

    async def _issuer(self, db: AsyncSession) -> str:
        stored = await read_setting(db, TWOFA_ISSUER)
        return str(stored) if stored else self.rt.settings.totp_issuer

    async def two_factor_issuer(self) -> str:
        async with self.rt.reading() as db:
            return await self._issuer(db)

    async def set_two_factor_issuer(self, actor: Actor, issuer: str) -> str:
        issuer = validate_issuer(issuer)
        return (await self.update(actor, two_factor_issuer=issuer)).two_factor_issuer

    async def two_factor_policy(self) -> bool:
        async with self.rt.reading() as db:
            return await two_factor_policy_on(db)

    async def set_two_factor_policy(self, actor: Actor, enabled: bool) -> None:
        """Switch the policy; cached credentials are dropped so it applies to live sessions at once."""
        await self.update(actor, two_factor_policy=enabled)

    @staticmethod
    async def _store(db: AsyncSession, key: str, value: Any) -> None:
        row = await db.get(PanelSetting, key, with_for_update=True)
        if row is None:
            db.add(PanelSetting(key=key, value=value))
        else:
            row.value = value
