"""`hostplane login-url`: a cPanel-style one-time login URL from any Hostplane, over HTTP, through the core's
remote-login client (hostplane.websessions.client)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hostplane.cli.common import EXIT_FAILED


def login_url(
    user: Annotated[str, typer.Option(help="The cPanel, WHM or webmail user (a mailbox address for webmail).")],
    hostname: Annotated[str, typer.Option(help="The panel's host name, as the URL will show it.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, envvar="HOSTPLANE_LOGIN_PASSWORD", help="Asked for when not in the env."
        ),
    ],
    service: Annotated[str, typer.Option(help="cpanel, whm or webmail.")] = "cpanel",
    goto_uri: Annotated[str, typer.Option(help="Where the browser goes once logged in.")] = "/",
    active_token_for_reuse: Annotated[
        str | None, typer.Option(help="A /cpsess token to keep while it is still valid.")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Default: cPanel's port of the service.")] = None,
    plain_http: Annotated[bool, typer.Option(help="Plain HTTP (the 2082/2086/2095 twins).")] = False,
    tfa_token: Annotated[
        str | None, typer.Option(help="The current two-factor code, when the account has 2FA.")
    ] = None,
    connect_host: Annotated[str | None, typer.Option(help="Connect here instead of to the host name.")] = None,
    ca_file: Annotated[str | None, typer.Option(help="CA bundle that signed the panel's certificate.")] = None,
) -> None:
    """A one-time login URL, as cPanel's get_loggedin_url gives it (JSON: login_ok, login_message, login_url,
    security_token); exit code 1 when the login failed."""
    from hostplane.websessions.client import login_url as remote_login  # httpx: only this command needs it

    result = remote_login(
        user,
        password,
        hostname,
        service,
        goto_uri,
        active_token_for_reuse,
        port=port,
        plain_http=plain_http,
        tfa_token=tfa_token,
        connect_host=connect_host,
        verify=ca_file or True,
    )
    print(
        json.dumps(
            {
                "login_ok": int(result.login_ok),
                "login_message": result.login_message,
                "login_url": result.login_url,
                "security_token": result.security_token,
            }
        )
    )
    if not result.login_ok:
        raise typer.Exit(EXIT_FAILED)
