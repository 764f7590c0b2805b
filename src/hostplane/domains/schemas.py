"""Request and response bodies of /api/v1/domains."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from hostplane.api.schema import RequestModel, ResponseModel


class DomainCreate(RequestModel):
    name: str = Field(
        max_length=300,
        description="The domain, e.g. `example.com` or `bücher.de` (stored in its IDNA ASCII form, lowercase).",
    )


class SubdomainCreate(RequestModel):
    name: str = Field(
        max_length=300,
        description="The part before the main domain: `blog` makes `blog.example.com` (several labels allowed).",
    )


class DomainOut(ResponseModel):
    id: int
    name: str = Field(description="IDNA ASCII form, lowercase.")
    unicode_name: str = Field(description="The name for display (Unicode form of an internationalised name).")
    kind: Literal["domain", "subdomain"]
    parent_id: int | None = Field(description="The main domain of a subdomain; null for a main domain.")
    docroot: str = Field(description="The folder the website is served from.")
    created_at: dt.datetime
