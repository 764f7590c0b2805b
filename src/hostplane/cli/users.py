"""`hostplane user ...`: panel users (create, list, password, disable/enable, two-factor reset)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hostplane import bootstrap
from hostplane.auth.models import ROLE_USER
from hostplane.cli.common import console, new_password, run
from hostplane.runtime import Runtime
from hostplane.users.service import UserAdminService

app = typer.Typer(help="Manage panel users.", no_args_is_help=True)


@app.command("create")
def user_create(
    username: str,
    email: Annotated[str, typer.Option(help="Email address.")],
    role: Annotated[str, typer.Option(help="admin or user")] = ROLE_USER,
    first_name: Annotated[str, typer.Option()] = "",
    last_name: Annotated[str, typer.Option()] = "",
    language: Annotated[str, typer.Option()] = "en",
    password: Annotated[str | None, typer.Option(help="Password (prompted for if omitted).")] = None,
    generate_password: Annotated[bool, typer.Option("--generate-password", help="Generate and print one.")] = False,
) -> None:
    """Create a user."""
    secret, generated = new_password(password, generate_password)
    user = run(
        lambda rt: UserAdminService(rt).create_user(
            bootstrap.CLI_ACTOR,
            username=username,
            email=email,
            password=secret,
            role=role,
            first_name=first_name,
            last_name=last_name,
            language=language,
        )
    )
    console.print(f"Created user {user.username} (id {user.id}, role {user.role}).")
    if generated:
        console.print(f"Password (shown once): {secret}")


@app.command("list")
def user_list() -> None:
    """List users."""
    users = run(lambda rt: UserAdminService(rt).list_users())
    table = Table("id", "username", "email", "role", "2FA", "disabled", "last login")
    for user in users:
        last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "-"
        table.add_row(
            str(user.id),
            user.username,
            user.email,
            user.role,
            "on" if user.twofa_enabled else "off",
            "yes" if user.disabled else "no",
            last,
        )
    console.print(table)


@app.command("set-password")
def user_set_password(
    username: str,
    password: Annotated[str | None, typer.Option(help="New password (prompted for if omitted).")] = None,
    generate_password: Annotated[bool, typer.Option("--generate-password", help="Generate and print one.")] = False,
) -> None:
    """Set a user's password; all of the user's sessions end."""
    secret, generated = new_password(password, generate_password)

    async def action(rt: Runtime) -> None:
        service = UserAdminService(rt)
        user = await service.find_user(username)
        await service.set_password(bootstrap.CLI_ACTOR, user.id, secret)

    run(action)
    console.print(f"Password of {username} changed; its sessions have ended.")
    if generated:
        console.print(f"Password (shown once): {secret}")


def _set_disabled(username: str, disabled: bool) -> None:
    async def action(rt: Runtime) -> None:
        service = UserAdminService(rt)
        user = await service.find_user(username)
        await service.set_disabled(bootstrap.CLI_ACTOR, user.id, disabled)

    run(action)
    console.print(f"User {username} {'disabled' if disabled else 'enabled'}.")


@app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user: its sessions end and its API keys stop working."""
    _set_disabled(username, True)


@app.command("enable")
def user_enable(username: str) -> None:
    """Enable a disabled user."""
    _set_disabled(username, False)


@app.command("reset-2fa")
def user_reset_2fa(username: str) -> None:
    """Turn off a user's two-factor authentication (admin recovery); its sessions end."""

    async def action(rt: Runtime) -> None:
        service = UserAdminService(rt)
        user = await service.find_user(username)
        await service.reset_two_factor(bootstrap.CLI_ACTOR, user.id)

    run(action)
    console.print(f"Two-factor authentication of {username} is off; the user can set it up again.")
