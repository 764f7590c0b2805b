"""Wire shapes of the panel's run-time settings in the native admin API."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, model_validator

from hostplane.api.schema import RequestModel, ResponseModel
from hostplane.panel.service import ISSUER_MAX_LENGTH


class PanelSettingsOut(ResponseModel):
    two_factor_policy: bool = Field(
        description="Every account must have two-factor on; until it does, it may only set it up."
    )
    two_factor_issuer: str = Field(description="The issuer authenticator apps show for the panel's accounts.")


class PanelSettingsChange(RequestModel):
    """The settings to change; an omitted one keeps its value (null is refused: omit the field instead)."""

    two_factor_policy: StrictBool | None = None
    two_factor_issuer: str | None = Field(
        default=None,
        min_length=1,
        max_length=ISSUER_MAX_LENGTH,
        description="1 to 64 characters, without ':' or control characters.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(name for name, value in data.items() if value is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: null is not a value; omit the field to keep it")
        return data
