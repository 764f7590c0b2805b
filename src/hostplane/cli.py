"""The `hostplane` command: init, serve, and the admin's tools for users and API keys."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from hostplane import bootstrap, server
from hostplane.accounts.admin import UserAdminService
from hostplane.accounts.service import AccountService
from hostplane.auth.models import ROLE_USER
from hostplane.auth.principal import Client, Principal
from hostplane.errors import HostplaneError
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings, load_settings

app = typer.Typer(help="Hostplane, the hosting control panel.", no_args_is_help=True)
user_app = typer.Typer(help="Manage panel users.", no_args_is_help=True)
api_key_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(api_key_app, name="api-key")
console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        err.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


def _run(action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one async action against a fresh runtime; core errors become a red line and exit code 1."""

    async def main() -> T:
        runtime = build_runtime(_settings())
        try:
            return await action(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except HostplaneError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        for problem in exc.fields:
            err.print(f"  {problem.field}: {problem.message}")
        raise typer.Exit(1) from exc


def _new_password(given: str | None, generate: bool) -> tuple[str, bool]:
    if given is not None:
        return given, False
    if generate:
        return bootstrap.generate_password(), True
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


@app.command()
def init(
    admin_username: Annotated[str, typer.Option(help="Name of the first admin account.")] = "admin",
    admin_email: Annotated[str, typer.Option(help="Email of the first admin account.")] = "admin@hostplane.localhost",
) -> None:
    """Create the state folder, key file, TLS certificate, database and first admin (each only once)."""
    settings = _settings()
    try:
        report = bootstrap.initialize(settings, admin_username=admin_username, admin_email=admin_email)
    except HostplaneError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"State folder: {settings.state_dir.absolute()}")
    if report.created_key_file:
        console.print(f"Created the key file {settings.resolved_secret_key_file} (keep it secret, back it up).")
    if report.created_certificate:
        console.print(f"Created a self-signed TLS certificate {settings.resolved_tls_files[0]}.")
    scheme = "http" if settings.plain_http else "https"
    if report.admin_password:
        console.print("\n[bold]Admin account created. This password is shown only once:[/bold]")
        console.print(f"  username: {report.admin_username}\n  password: {report.admin_password}", soft_wrap=True)
        console.print(
            f"\nLog in:  curl -k {scheme}://{settings.bind_host}:{settings.admin_port}/api/v1/auth/login "
            f"-H 'Content-Type: application/json' "
            f'-d \'{{"username": "{report.admin_username}", "password": "<password>"}}\'',
            soft_wrap=True,
        )
    else:
        console.print("An admin account exists already; use `hostplane user set-password` if you lost it.")


@app.command()
def serve(log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info") -> None:
    """Serve the user port and the admin port until interrupted."""
    settings = _settings()
    scheme = "http" if settings.plain_http else "https"
    console.print(
        f"Hostplane: user port {scheme}://{settings.bind_host}:{settings.user_port}, "
        f"admin port {scheme}://{settings.bind_host}:{settings.admin_port}"
    )
    server.run(settings, log_level=log_level)


@user_app.command("create")
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
    secret, generated = _new_password(password, generate_password)
    user = _run(
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


@user_app.command("list")
def user_list() -> None:
    """List users."""
    users = _run(lambda rt: UserAdminService(rt).list_users())
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


@user_app.command("set-password")
def user_set_password(
    username: str,
    password: Annotated[str | None, typer.Option(help="New password (prompted for if omitted).")] = None,
    generate_password: Annotated[bool, typer.Option("--generate-password", help="Generate and print one.")] = False,
) -> None:
    """Set a user's password; all of the user's sessions end."""
    secret, generated = _new_password(password, generate_password)

    async def action(rt: Runtime) -> None:
        service = UserAdminService(rt)
        user = await service.find_user(username)
        await service.set_password(bootstrap.CLI_ACTOR, user.id, secret)

    _run(action)
    console.print(f"Password of {username} changed; its sessions have ended.")
    if generated:
        console.print(f"Password (shown once): {secret}")


def _set_disabled(username: str, disabled: bool) -> None:
    async def action(rt: Runtime) -> None:
        service = UserAdminService(rt)
        user = await service.find_user(username)
        await service.set_disabled(bootstrap.CLI_ACTOR, user.id, disabled)

    _run(action)
    console.print(f"User {username} {'disabled' if disabled else 'enabled'}.")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user: its sessions end and its API keys stop working."""
    _set_disabled(username, True)


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Enable a disabled user."""
    _set_disabled(username, False)


@user_app.command("reset-2fa")
def user_reset_2fa(username: str) -> None:
    """Turn off a user's two-factor authentication (admin recovery); its sessions end."""

    async def action(rt: Runtime) -> None:
        service = UserAdminService(rt)
        user = await service.find_user(username)
        await service.reset_two_factor(bootstrap.CLI_ACTOR, user.id)

    _run(action)
    console.print(f"Two-factor authentication of {username} is off; the user can set it up again.")


@api_key_app.command("create")
def api_key_create(
    username: str,
    description: Annotated[str, typer.Option(help="What the key is for.")] = "",
    scope: Annotated[list[str] | None, typer.Option(help="e.g. account:read; repeat; none = full access")] = None,
    allow_ip: Annotated[list[str] | None, typer.Option(help="IP or CIDR allowed to use the key; repeat")] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Expire after this many days.")] = None,
) -> None:
    """Create an API key for a user and print its secret token once."""

    async def action(rt: Runtime) -> str:
        user = await UserAdminService(rt).find_user(username)
        principal = Principal(user=user, client=Client(ip="cli"))
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days) if expires_in_days else None
        created = await AccountService(rt).create_api_key(
            principal, description=description, scopes=scope or [], allowed_ips=allow_ip or [], expires_at=expires
        )
        return created.token

    token = _run(action)
    console.print(f"API key for {username} (shown once):\n{token}", soft_wrap=True)


def main() -> None:
    app()
