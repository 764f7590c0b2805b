"""Wire shapes of the account routes in the native API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from hostplane.api.schema import RequestModel, ResponseModel
from hostplane.api.types import Moment


class UserOut(ResponseModel):
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    language: str
    role: Literal["admin", "user"]
    disabled: bool
    two_factor_enabled: bool = Field(validation_alias="twofa_enabled")
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    last_login_ip: str | None


class ProfileUpdate(RequestModel):
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=16)


class EmailChange(RequestModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class PasswordChange(RequestModel):
    current_password: str = Field(max_length=1024)
    password: str = Field(max_length=1024)
    password_confirmation: str = Field(max_length=1024)


class TwoFactorStatus(ResponseModel):
    enabled: bool
    recovery_codes_left: int


class TwoFactorSetupOut(ResponseModel):
    secret: str
    otpauth_uri: str
    qr_code: str = Field(description="PNG data URL of the otpauth URI as a QR code.")


class TwoFactorEnable(RequestModel):
    code: str = Field(max_length=16)
    password: str = Field(max_length=1024)


class PasswordProof(RequestModel):
    password: str = Field(max_length=1024)


class OptionalPasswordProof(RequestModel):
    password: str | None = Field(default=None, max_length=1024, description="Required when using an API key.")


class RecoveryCodesOut(ResponseModel):
    recovery_codes: list[str]


class ApiKeyCreate(RequestModel):
    description: str = Field(default="", max_length=500)
    scopes: list[str] = Field(default_factory=list, max_length=32)
    allowed_ips: list[str] = Field(default_factory=list, max_length=1000)
    expires_at: Moment | None = None
    password: str | None = Field(default=None, max_length=1024, description="Required when using an API key.")


class ApiKeyOut(ResponseModel):
    identifier: str
    description: str
    scopes: list[str]
    allowed_ips: list[str]
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    created_at: dt.datetime


class ApiKeyCreated(ApiKeyOut):
    token: str = Field(description="The secret token; shown only in this response.")


class SshKeyCreate(RequestModel):
    name: str = Field(max_length=191)
    public_key: str = Field(max_length=16384)
    password: str | None = Field(default=None, max_length=1024, description="Required when using an API key.")


class SshKeyRemove(RequestModel):
    fingerprint: str = Field(max_length=64)
    password: str | None = Field(default=None, max_length=1024, description="Required when using an API key.")


class SshKeyOut(ResponseModel):
    name: str
    key_type: str
    bits: int
    fingerprint: str
    public_key: str
    created_at: dt.datetime
