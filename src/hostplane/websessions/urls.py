"""The one-time login URL of an issued ticket: the path on the service's port, and the absolute URL.

Core, not a dialect: cPanel's secure remote logins hand out the path, WHM's create_user_session the whole URL,
and any page or command that issues a ticket builds it the same way.
"""

from __future__ import annotations

import urllib.parse

from hostplane.runtime import Runtime
from hostplane.websessions.service import CPANELD, WEBMAILD, WHOSTMGRD, IssuedTicket


def ticket_path(issued: IssuedTicket) -> str:
    query = urllib.parse.urlencode({"session": issued.ticket, "goto_uri": issued.goto_uri})
    return f"/cpsess{issued.security_token}/login/?{query}"


def ticket_url(runtime: Runtime, issued: IssuedTicket, hostname: str | None = None) -> str:
    """The absolute one-time login URL on the service's port."""
    settings = runtime.settings
    port = {CPANELD: settings.user_port, WHOSTMGRD: settings.admin_port, WEBMAILD: settings.webmail_port}
    scheme = "http" if settings.plain_http else "https"
    return f"{scheme}://{hostname or settings.panel_hostname}:{port[issued.service]}{ticket_path(issued)}"
