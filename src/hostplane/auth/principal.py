"""Who is asking, and from where: what every service call receives instead of an HTTP request."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from hostplane.activity.log import Actor
from hostplane.auth.models import User

AREAS = ("account", "domains", "mail", "tls", "exports", "admin")
SCOPE_PATTERN = re.compile(r"^(\*|" + "|".join(AREAS) + r"):(read|write)$")


@dataclass(frozen=True)
class Client:
    """The requesting peer as established by the edge (socket address, or a trusted proxy's word)."""

    ip: str
    user_agent: str = ""


@dataclass(frozen=True)
class Principal:
    """An authenticated user: by a session token (session_id) or by an API key (api_key_identifier)."""

    user: User
    client: Client
    session_id: str | None = None
    api_key_identifier: str | None = None
    scopes: tuple[str, ...] = field(default_factory=tuple)
    allowed_ips: tuple[str, ...] = field(default_factory=tuple)
    """The API key's own address list (empty: any address)."""
    key_expires_at: dt.datetime | None = None
    """The API key's own expiry (None: never)."""

    @property
    def actor(self) -> Actor:
        return Actor(self.user.id, self.client.ip, self.api_key_identifier)

    @property
    def by_api_key(self) -> bool:
        return self.api_key_identifier is not None

    def allows(self, area: str, *, write: bool) -> bool:
        """Sessions may do everything; an API key only what its scopes grant (none listed = full access)."""
        if not self.scopes:
            return True
        wanted = {f"{area}:write", "*:write"} if write else {f"{area}:read", f"{area}:write", "*:read", "*:write"}
        return not wanted.isdisjoint(self.scopes)
