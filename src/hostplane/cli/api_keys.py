"""`hostplane api-key create`: an API key for a user, its secret printed once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from hostplane.cli.common import console, principal, run
from hostplane.profile.service import AccountService
from hostplane.runtime import Runtime

app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


@app.command("create")
def api_key_create(
    username: str,
    description: Annotated[str, typer.Option(help="What the key is for.")] = "",
    scope: Annotated[list[str] | None, typer.Option(help="e.g. account:read; repeat; none = full access")] = None,
    allow_ip: Annotated[list[str] | None, typer.Option(help="IP or CIDR allowed to use the key; repeat")] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Expire after this many days.")] = None,
) -> None:
    """Create an API key for a user and print its secret token once."""

    async def action(rt: Runtime) -> str:
        owner = await principal(rt, username)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days) if expires_in_days else None
        created = await AccountService(rt).create_api_key(
            owner, description=description, scopes=scope or [], allowed_ips=allow_ip or [], expires_at=expires
        )
        return created.token

    token = run(action)
    console.print(f"API key for {username} (shown once):\n{token}", soft_wrap=True)
