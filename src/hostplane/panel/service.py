"""Panel-wide settings an administrator changes at run time, with defaults from Settings.

The two-factor issuer (the label authenticator apps show) and the two-factor policy (every account must have
two-factor on; accounts without it may only set it up) live here.
"""

from __future__ import annotations

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


class PanelSettingsService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def two_factor_issuer(self) -> str:
        async with self.rt.reading() as db:
            stored = await read_setting(db, TWOFA_ISSUER)
        return str(stored) if stored else self.rt.settings.totp_issuer

    async def set_two_factor_issuer(self, actor: Actor, issuer: str) -> str:
        issuer = validate_issuer(issuer)
        async with self.rt.writing() as db:
            await self._store(db, TWOFA_ISSUER, issuer)
            activity.record(db, Event.PANEL_2FA_ISSUER_SET, actor, user_id=actor.user_id, issuer=issuer)
        return issuer

    async def two_factor_policy(self) -> bool:
        async with self.rt.reading() as db:
            return await two_factor_policy_on(db)

    async def set_two_factor_policy(self, actor: Actor, enabled: bool) -> None:
        """Switch the policy; cached credentials are dropped so it applies to live sessions at once."""
        try:
            async with self.rt.writing() as db:
                await self._store(db, TWOFA_POLICY, enabled)
                event = Event.PANEL_2FA_POLICY_ENABLED if enabled else Event.PANEL_2FA_POLICY_DISABLED
                activity.record(db, event, actor, user_id=actor.user_id)
        finally:
            self.rt.credentials.clear()

    @staticmethod
    async def _store(db: AsyncSession, key: str, value: Any) -> None:
        row = await db.get(PanelSetting, key, with_for_update=True)
        if row is None:
            db.add(PanelSetting(key=key, value=value))
        else:
            row.value = value
