"""What every command group shares: the consoles, settings loading, running one async action against a runtime,
the principal a command acts for, passwords given, generated or prompted, and how errors are printed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hostplane import bootstrap
from hostplane.auth.principal import Client, Principal
from hostplane.errors import HostplaneError
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings, load_settings
from hostplane.users.service import UserAdminService

console = Console()
err = Console(stderr=True)
T = TypeVar("T")

EXIT_FAILED = 1
"""A core error (bad input, unknown name, refused change): its message in red on stderr."""
EXIT_SETTINGS = 2
"""Settings that are invalid, or that cannot work on this host: one line saying why and what to change."""

UserOption = Annotated[str, typer.Option("--user", help="The panel user who owns it.")]
CLI_CLIENT = Client(ip="cli")


def load() -> Settings:
    """The settings of this host (environment, hostplane.toml); invalid ones exit 2 with pydantic's reasons."""
    try:
        return load_settings()
    except ValueError as exc:
        err.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(EXIT_SETTINGS) from exc


def fail(exc: HostplaneError) -> NoReturn:
    """Print a core error (its detail, then one line per field problem) and exit 1."""
    err.print(f"[red]{exc.detail}[/red]")
    for problem in exc.fields:
        err.print(f"  {problem.field}: {problem.message}")
    raise typer.Exit(EXIT_FAILED) from exc


def refuse(message: str) -> NoReturn:
    """Settings that cannot work here: one line with the fix, exit 2, never a traceback."""
    err.print(f"[red]{escape(message)}[/red]", soft_wrap=True)
    raise typer.Exit(EXIT_SETTINGS)


def run(action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one async action against a fresh runtime; core errors become a red line and exit code 1."""

    async def main() -> T:
        runtime = build_runtime(load())
        try:
            return await action(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except HostplaneError as exc:
        fail(exc)


async def principal(rt: Runtime, username: str) -> Principal:
    """The named user, acting from the command line (activity entries show the address "cli")."""
    user = await UserAdminService(rt).find_user(username)
    return Principal(user=user, client=CLI_CLIENT)


def new_password(given: str | None, generate: bool) -> tuple[str, bool]:
    """The password given, a generated one, or one prompted for (typed twice); and whether it was generated."""
    if given is not None:
        return given, False
    if generate:
        return bootstrap.generate_password(), True
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False
