"""Request and response bodies of /api/v1/domains/{id}/certificate."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from hostplane.api.schema import RequestModel, ResponseModel

PEM_FIELD_LIMIT = 256 * 1024
"""What the schema lets through; the certificate rules (64 KiB per field and more) give the precise 422."""


class CertificateUpload(RequestModel):
    model_config = ConfigDict(extra="forbid", str_max_length=PEM_FIELD_LIMIT)

    certificate: str = Field(description="PEM: the certificate, optionally followed by its chain.")
    private_key: str = Field(description="PEM: its private key, unencrypted (RSA 2048+ bits, EC P-256 or P-384).")
    chain: str = Field(default="", description="PEM: the intermediates, each signed by the next one.")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_chars(cls, value: Any, info: ValidationInfo) -> Any:
        """PEM text has line feeds: the certificate rules check its characters (and name the field)."""
        return value


class CertificateOut(ResponseModel):
    domain_id: int
    hostname: str
    issuer: str = Field(description="The issuer's distinguished name (RFC 4514).")
    not_before: dt.datetime
    not_after: dt.datetime
    days_left: int = Field(description="Whole days until it expires; negative once expired.")
    source: Literal["upload", "acme"]
    sans: list[str] = Field(description="The DNS names it covers.")
    fingerprint_sha256: str = Field(description="SHA-256 of the certificate (DER), lowercase hex.")
    created_at: dt.datetime
    updated_at: dt.datetime
