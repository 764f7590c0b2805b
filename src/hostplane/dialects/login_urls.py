"""One-time login URLs of the secure remote logins, shared by the dialects that hand them out (cPanel's
`create_login_url`, WHM's `create_user_session`): a dialect never imports another dialect."""

from __future__ import annotations

import urllib.parse

from hostplane.auth.websessions import CPANELD, WEBMAILD, WHOSTMGRD, IssuedTicket
from hostplane.runtime import Runtime


def ticket_path(issued: IssuedTicket) -> str:
    query = urllib.parse.urlencode({"session": issued.ticket, "goto_uri": issued.goto_uri})
    return f"/cpsess{issued.security_token}/login/?{query}"


def ticket_url(runtime: Runtime, issued: IssuedTicket, hostname: str | None = None) -> str:
    """The absolute one-time login URL on the service's port."""
    settings = runtime.settings
    port = {CPANELD: settings.user_port, WHOSTMGRD: settings.admin_port, WEBMAILD: settings.webmail_port}
    scheme = "http" if settings.plain_http else "https"
    return f"{scheme}://{hostname or settings.panel_hostname}:{port[issued.service]}{ticket_path(issued)}"
