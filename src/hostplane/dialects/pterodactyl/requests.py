"""Request bodies of Pterodactyl's client account API.

As in Laravel: fields the API does not know are ignored, and an empty string counts as a missing field (Laravel
turns it into null before validation). Control characters are refused in every text, as everywhere in Hostplane.
Lengths, formats and the other rules are the core's; only presence and JSON types are checked here.

`password` on the key routes is a Hostplane addition: an API key alone never changes security settings, so a
request authenticated by an API key must carry the account password there (a login token needs none).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from hostplane.api.schema import RequestModel

PASSWORD = Field(max_length=1024)


class PterodactylRequest(RequestModel):
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _empty_is_missing(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        blank = value == "" if "password" in name else isinstance(value, str) and not value.strip()
        if blank:
            raise PydanticCustomError(
                "required", "The {attribute} field is required.", {"attribute": name.replace("_", " ")}
            )
        return value


class EmailChange(PterodactylRequest):
    email: str = Field(max_length=254)
    password: str = PASSWORD


class PasswordChange(PterodactylRequest):
    current_password: str = PASSWORD
    password: str = PASSWORD
    password_confirmation: str = PASSWORD


class TwoFactorEnable(PterodactylRequest):
    code: str = Field(max_length=16)
    password: str = PASSWORD


class PasswordProof(PterodactylRequest):
    password: str = PASSWORD


class OptionalPasswordProof(PterodactylRequest):
    password: str | None = Field(default=None, max_length=1024)


class ApiKeyCreate(PterodactylRequest):
    description: str = Field(max_length=4096)
    allowed_ips: list[str] | None = Field(default=None, max_length=1000)
    password: str | None = Field(default=None, max_length=1024)


class SshKeyCreate(PterodactylRequest):
    name: str = Field(max_length=4096)
    public_key: str = Field(max_length=16384)
    password: str | None = Field(default=None, max_length=1024)


class SshKeyRemove(PterodactylRequest):
    fingerprint: str = Field(max_length=128)
    password: str | None = Field(default=None, max_length=1024)
