"""Wire shapes of the mail routes in the native API (grammars are checked by the service)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from hostplane.api.schema import RequestModel, ResponseModel
from hostplane.api.types import Count


class MailDomainCreate(RequestModel):
    name: str = Field(max_length=253, description="The domain, e.g. example.com (IDNA names are converted).")


class MailDomainOut(ResponseModel):
    id: int
    name: str
    mailbox_count: int
    created_at: dt.datetime


class MailboxCreate(RequestModel):
    local_part: str = Field(max_length=64, description="The part before '@': lowercase letters, digits, '_', '-', '.'.")
    password: str = Field(max_length=1024)
    quota_mb: Count | None = Field(default=None, description="Megabytes; 0 = unlimited; default from the settings.")


class MailboxOut(ResponseModel):
    id: int
    domain_id: int
    local_part: str
    address: str
    quota_mb: int
    created_at: dt.datetime


class MailboxPassword(RequestModel):
    password: str = Field(max_length=1024)


class MailboxDeleted(ResponseModel):
    maildir: str = Field(description="What became of the mail: archived, removed, or absent (there was none).")


class AliasCreate(RequestModel):
    local_part: str = Field(max_length=64)
    destination: str = Field(max_length=254, description="The address mail to this alias is delivered to.")


class AliasOut(ResponseModel):
    id: int
    domain_id: int
    local_part: str
    address: str
    destination: str
    created_at: dt.datetime


class DkimCreate(RequestModel):
    selector: str | None = Field(
        default=None,
        max_length=63,
        description="Selector of the new key: 1 to 63 lowercase letters, digits and '-'; default from the settings.",
    )


class DnsTxtOut(ResponseModel):
    name: str = Field(description="Owner name of the record, without the trailing dot.")
    type: str = "TXT"
    value: str = Field(description="The value as resolvers return it (all strings joined).")
    strings: list[str] = Field(description="The value split in character-strings of at most 255 bytes.")
    zone: str = Field(description="The record as a zone file line.")


class DkimOut(ResponseModel):
    mail_domain_id: int
    domain: str
    selector: str
    created_at: dt.datetime
    dkim: DnsTxtOut = Field(description="Publish this TXT record: receivers check signatures against it.")
    spf: DnsTxtOut = Field(description="Suggested SPF record for the domain.")
    dmarc: DnsTxtOut = Field(description="Suggested DMARC record.")
