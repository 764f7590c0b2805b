"""Wire shapes of login and sessions in the native API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from hostplane.api.schema import RequestModel, ResponseModel


class LoginRequest(RequestModel):
    username: str = Field(min_length=1, max_length=254, description="Username or email address.")
    password: str = Field(min_length=1, max_length=1024)


class TwoFactorLoginRequest(RequestModel):
    challenge: str = Field(min_length=1, max_length=128)
    code: str = Field(min_length=1, max_length=64, description="A 6-digit TOTP code or a recovery code.")


class TokenResponse(ResponseModel):
    token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    user_id: int


class ChallengeResponse(ResponseModel):
    two_factor_required: Literal[True] = True
    challenge: str
    expires_in: int
    user_id: int


class SessionOut(ResponseModel):
    id: str
    created_at: dt.datetime
    expires_at: dt.datetime
    ip: str
    user_agent: str
    method: str
    current: bool = False
