"""Base models of the native API: requests refuse unknown fields and control characters in any text."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from starlette.responses import Response

from hostplane.security.passwords import has_control_chars


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_chars(cls, value: Any, info: ValidationInfo) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and has_control_chars(item) for item in texts):
            raise ValueError("control characters (such as CR or LF) are not allowed")
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """A JSON response serialised by pydantic in one pass, for routes on the hot path."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
