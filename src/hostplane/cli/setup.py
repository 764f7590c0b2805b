"""The host as a whole: `init`, `serve`, `doctor` and `reconcile`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hostplane import bootstrap, server
from hostplane.cli.common import EXIT_FAILED, console, err, load, refuse, run
from hostplane.errors import HostplaneError
from hostplane.hosting.state import build_supervisor, check_host
from hostplane.hosting.state import reconcile as reconcile_all


def init(
    admin_username: Annotated[str, typer.Option(help="Name of the first admin account.")] = "admin",
    admin_email: Annotated[str, typer.Option(help="Email of the first admin account.")] = "admin@hostplane.localhost",
) -> None:
    """Create the state folder, key file, TLS certificate, database and first admin (each only once)."""
    settings = load()
    host = check_host(settings)
    if host.problem:
        refuse(host.problem)
    try:
        report = bootstrap.initialize(settings, admin_username=admin_username, admin_email=admin_email)
    except HostplaneError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(EXIT_FAILED) from exc
    console.print(f"State folder: {settings.state_dir.absolute()}")
    for note in host.notes:
        console.print(note, soft_wrap=True, markup=False, highlight=False)
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


def serve(log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info") -> None:
    """Serve the user port and the admin port until interrupted."""
    settings = load()
    host = check_host(settings)
    if host.problem:
        refuse(host.problem)

    def ready(lines: list[str]) -> None:
        print("\n".join(lines), flush=True)  # plain: no markup, no wrapping, flushed even into a pipe or a file

    try:
        server.run(settings, log_level=log_level, ready=ready)
    except server.CannotStart as exc:
        refuse(str(exc))


def doctor() -> None:
    """Each of the panel's own services: running or stopped, pid, healthy, version, config valid, ports.
    Exit code 1 when any of them is not running, not healthy or has a configuration its validator refuses."""
    settings = load()
    statuses = run(lambda rt: build_supervisor(rt).status())
    table = Table("service", "state", "pid", "healthy", "version", "config")
    table.add_column("ports", no_wrap=True)
    for status in statuses:
        table.add_row(
            status.name,
            "[green]running[/green]" if status.running else "[red]stopped[/red]",
            str(status.pid or "-"),
            "[green]yes[/green]" if status.healthy else "[red]no[/red]",
            status.version or "-",
            "[green]valid[/green]" if status.config_valid else "[red]invalid[/red]",
            "\n".join(str(port) for port in status.ports) or "-",
        )
    (console if console.is_terminal else Console(width=160)).print(table)  # piped: one line per row, for grep
    for status in statuses:
        if status.config_error:
            err.print(f"[red]{status.name} configuration:[/red] {status.config_error}", soft_wrap=True)
    if not settings.embedded_services:
        console.print("embedded_services is off: `hostplane serve` does not start these services.")
    broken = [status.name for status in statuses if not status.ok]
    if broken:
        err.print(f"[red]Not well:[/red] {', '.join(broken)}")
        raise typer.Exit(EXIT_FAILED)
    console.print("All services are running, healthy and validly configured.")


def reconcile() -> None:
    """Re-apply the whole desired state (websites, mail and DKIM configs, mail lookups, system users) and report
    what differed from it; running again reports nothing."""
    result = run(reconcile_all)
    for line in result.drift:
        console.print(f"put back: {line}", soft_wrap=True)
    if result.clean:
        console.print("No drift: everything matches the desired state.")
    else:
        console.print(f"{len(result.drift)} difference(s) put back.")
