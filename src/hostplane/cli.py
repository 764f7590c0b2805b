"""The `hostplane` command: init, serve, and the admin's tools for users and API keys."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from hostplane import bootstrap, server
from hostplane.auth.models import ROLE_USER
from hostplane.auth.principal import Client, Principal
from hostplane.errors import HostplaneError
from hostplane.profile.service import AccountService
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings, load_settings
from hostplane.users.service import UserAdminService

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


# --- plans (accounts/plans.py) ---------------------------------------------------------------------------------
plan_app = typer.Typer(help="Manage hosting plans (limits: 0 = unlimited).", no_args_is_help=True)
app.add_typer(plan_app, name="plan")


@plan_app.command("create")
def plan_create(
    name: str,
    max_domains: Annotated[int, typer.Option(min=0, help="Main domains.")] = 0,
    max_websites: Annotated[int, typer.Option(min=0, help="Domains and subdomains.")] = 0,
    max_mailboxes: Annotated[int, typer.Option(min=0)] = 0,
    max_mail_quota_mb: Annotated[int, typer.Option(min=0, help="Sum of the mailbox quotas.")] = 0,
    max_disk_mb: Annotated[int, typer.Option(min=0, help="Docroots and Maildirs, measured.")] = 0,
    feature: Annotated[list[str] | None, typer.Option(help="A feature the plan includes; repeat; none = all.")] = None,
    default: Annotated[bool, typer.Option("--default", help="Apply to every user without a plan.")] = False,
) -> None:
    """Create a plan."""
    from hostplane.plans.service import PlanService

    async def action(rt: Runtime) -> int:
        view = await PlanService(rt).create(
            bootstrap.CLI_ACTOR,
            name=name,
            features=feature,
            is_default=default,
            max_domains=max_domains,
            max_websites=max_websites,
            max_mailboxes=max_mailboxes,
            max_mail_quota_mb=max_mail_quota_mb,
            max_disk_mb=max_disk_mb,
        )
        return view.plan.id

    plan_id = _run(action)
    console.print(f"Plan {name} created (id {plan_id}).")


@plan_app.command("list")
def plan_list() -> None:
    """List the plans with their limits ("-" = unlimited) and how many users each has."""
    from hostplane.plans.service import PlanService

    views = _run(lambda rt: PlanService(rt).list_plans())
    table = Table("id", "name", "domains", "websites", "mailboxes", "mail quota MB", "disk MB", "users", "default")
    table.caption = "- = unlimited"
    for view in views:
        plan = view.plan
        table.add_row(
            str(plan.id),
            plan.name,
            *(str(value or "-") for value in (plan.max_domains, plan.max_websites, plan.max_mailboxes)),
            *(str(value or "-") for value in (plan.max_mail_quota_mb, plan.max_disk_mb)),
            str(view.users),
            "yes" if plan.is_default else "",
        )
    console.print(table)


@plan_app.command("assign")
def plan_assign(
    username: str,
    plan: Annotated[str | None, typer.Argument(help="Plan name; omit for the default plan.")] = None,
) -> None:
    """Put a user on a plan."""
    from hostplane.plans.service import PlanService

    async def action(rt: Runtime) -> None:
        user = await UserAdminService(rt).find_user(username)
        service = PlanService(rt)
        plan_id = (await service.find(plan)).id if plan is not None else None
        await service.assign(bootstrap.CLI_ACTOR, user.id, plan_id)

    _run(action)
    console.print(f"{username} is now on {'plan ' + plan if plan else 'the default plan'}.")


# --- end plans


# --- panel settings (panel/service.py) -------------------------------------------------------------------------
settings_app = typer.Typer(help="Panel-wide run-time settings (two-factor policy and issuer).", no_args_is_help=True)
app.add_typer(settings_app, name="settings")


def _print_panel_settings(current: Any) -> None:
    console.print(f"two_factor_policy: {'on' if current.two_factor_policy else 'off'}")
    console.print(f"two_factor_issuer: {current.two_factor_issuer}", soft_wrap=True, markup=False)


@settings_app.command("show")
def settings_show() -> None:
    """Show the run-time settings as they apply now."""
    from hostplane.panel.service import PanelSettingsService

    _print_panel_settings(_run(lambda rt: PanelSettingsService(rt).current()))


@settings_app.command("set")
def settings_set(
    two_factor_policy: Annotated[
        bool | None,
        typer.Option(
            "--two-factor-policy/--no-two-factor-policy",
            help="Require two-factor of every account (accounts without it may only set it up).",
            show_default=False,
        ),
    ] = None,
    two_factor_issuer: Annotated[
        str | None, typer.Option(help="The issuer authenticator apps show (1 to 64 characters, no ':').")
    ] = None,
) -> None:
    """Change run-time settings; the others keep their values. Each change goes to the activity log."""
    from hostplane.panel.service import PanelSettingsService

    if two_factor_policy is None and two_factor_issuer is None:
        err.print("Nothing to change: give --two-factor-policy, --no-two-factor-policy or --two-factor-issuer.")
        raise typer.Exit(2)
    current = _run(
        lambda rt: PanelSettingsService(rt).update(
            bootstrap.CLI_ACTOR, two_factor_policy=two_factor_policy, two_factor_issuer=two_factor_issuer
        )
    )
    _print_panel_settings(current)


# --- end panel settings


# --- jobs and ACME certificates (jobs/, tls/acme.py) -----------------------------------------------------------
jobs_app = typer.Typer(help="Long work (certificate orders, renewals...): list and watch.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
tls_app = typer.Typer(help="Website certificates.", no_args_is_help=True)
app.add_typer(tls_app, name="tls")


def _job_progress(job: Any) -> str:
    return f"{job.progress_done}/{job.progress_total}" if job.progress_total else "-"


@jobs_app.command("list")
def jobs_list(
    user: Annotated[str, typer.Option("--user", help="Whose jobs.")],
    page: Annotated[int, typer.Option(min=1)] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """A user's jobs, newest first."""
    from hostplane.jobs.service import JobPage, JobService

    async def action(rt: Runtime) -> JobPage:
        owner = await UserAdminService(rt).find_user(user)
        return await JobService(rt).list(owner.id, page=page, per_page=per_page)

    result = _run(action)
    table = Table("id", "kind", "title", "status", "progress", "message", "created", "finished")
    for job in result.jobs:
        table.add_row(
            str(job.id),
            job.kind,
            job.title,
            job.status,
            _job_progress(job),
            (job.error or {}).get("detail", job.message) if job.status == "failed" else job.message,
            job.created_at.isoformat(timespec="seconds"),
            job.finished_at.isoformat(timespec="seconds") if job.finished_at else "-",
        )
    console.print(table)
    console.print(f"Page {result.page} of {result.total_pages} ({result.total} jobs).")


async def _watch_jobs(rt: Runtime, job_ids: list[int], timeout: float) -> list[Any]:
    """Show a progress bar per job until each has finished (or the timeout); the jobs as they ended."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hostplane.jobs.service import JobService

    service = JobService(rt)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[state]}"))
    with Progress(*columns, console=console) as progress:
        bars = {}
        for job_id in job_ids:
            job = await service.load(job_id)
            bars[job_id] = progress.add_task(job.title, total=job.progress_total or None, state=job.status)
        while True:
            jobs = [await service.load(job_id) for job_id in job_ids]
            for job in jobs:
                state = job.status if job.finished or not job.message else f"{job.status}: {job.message}"
                total = job.progress_total or (1 if job.finished else None)
                done = job.progress_done if job.progress_total else (1 if job.status == "succeeded" else 0)
                progress.update(bars[job.id], total=total, completed=done, state=state)
            if all(job.finished for job in jobs) or loop.time() >= deadline:
                return jobs
            await asyncio.sleep(0.2)


def _report_jobs(jobs: list[Any]) -> None:
    """Print why each failed job failed; exit 1 if any failed, 3 if any is still unfinished."""
    for job in jobs:
        if job.status == "failed" and job.error:
            err.print(f"[red]Job {job.id} failed:[/red] {job.error.get('detail', '')} ({job.error.get('code', '')})")
            ca_problem = job.error.get("ca_problem") or {}
            if ca_problem:
                err.print(f"  certificate authority: {ca_problem.get('type', '')} {ca_problem.get('detail', '')}")
                for sub in ca_problem.get("subproblems") or []:
                    name = (sub.get("identifier") or {}).get("value", "")
                    err.print(f"    {name}: {sub.get('type', '')} {sub.get('detail', '')}")
    if any(job.status == "failed" for job in jobs):
        raise typer.Exit(1)
    if not all(job.finished for job in jobs):
        err.print("[yellow]Not finished within the timeout.[/yellow]")
        raise typer.Exit(3)


@jobs_app.command("watch")
def jobs_watch(
    job_id: int,
    timeout: Annotated[float, typer.Option(min=0, help="Give up watching after this many seconds.")] = 600,
) -> None:
    """Show a job's progress until it has finished; exit 1 if it failed."""
    _report_jobs(_run(lambda rt: _watch_jobs(rt, [job_id], timeout)))


@tls_app.command("renew")
def tls_renew(
    timeout: Annotated[float, typer.Option(min=0, help="Longest wait for the renewals, in seconds.")] = 900,
) -> None:
    """Renew now every ACME certificate that expires within `acme_renew_before_days` days."""
    from hostplane.tls.acme import AcmeService

    async def action(rt: Runtime) -> list[Any]:
        started = await AcmeService(rt).renew_due()
        if not started:
            console.print("No certificate is due for renewal.")
            return []
        return await _watch_jobs(rt, [job.id for job in started], timeout)

    _report_jobs(_run(action))


# --- end jobs and ACME certificates


# --- cPanel secure remote logins ------------------------------------------------------------------------


@app.command("login-url")
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
    import json

    from hostplane.dialects.cpanel_sessions.client import login_url as remote_login

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
        raise typer.Exit(1)


# --- end cPanel secure remote logins


# --- services, reconcile, and hosting for a named user (system/supervisor.py, domains, mail) -------------------
domain_app = typer.Typer(help="Manage a user's domains and websites.", no_args_is_help=True)
mail_app = typer.Typer(help="Manage a user's mail domains and mailboxes.", no_args_is_help=True)
mail_domain_app = typer.Typer(help="Mail domains of a user.", no_args_is_help=True)
mailbox_app = typer.Typer(help="Mailboxes of a user.", no_args_is_help=True)
app.add_typer(domain_app, name="domain")
app.add_typer(mail_app, name="mail")
mail_app.add_typer(mail_domain_app, name="domain")
mail_app.add_typer(mailbox_app, name="mailbox")
UserOption = Annotated[str, typer.Option("--user", help="The panel user who owns it.")]


@app.command()
def doctor() -> None:
    """Each of the panel's own services: running or stopped, pid, healthy, version, config valid, ports.
    Exit code 1 when any of them is not running, not healthy or has a configuration its validator refuses."""
    from hostplane.hosting.state import build_supervisor

    settings = _settings()
    statuses = _run(lambda rt: build_supervisor(rt).status())
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
        raise typer.Exit(1)
    console.print("All services are running, healthy and validly configured.")


@app.command()
def reconcile() -> None:
    """Re-apply the whole desired state (websites, mail and DKIM configs, mail lookups, system users) and report
    what differed from it; running again reports nothing."""
    from hostplane.hosting.state import reconcile as reconcile_all

    result = _run(reconcile_all)
    for line in result.drift:
        console.print(f"put back: {line}", soft_wrap=True)
    if result.clean:
        console.print("No drift: everything matches the desired state.")
    else:
        console.print(f"{len(result.drift)} difference(s) put back.")


async def _principal(rt: Runtime, username: str) -> Principal:
    user = await UserAdminService(rt).find_user(username)
    return Principal(user=user, client=Client(ip="cli"))


@domain_app.command("add")
def domain_add(name: str, user: UserOption) -> None:
    """Add a domain with its website (served as soon as this returns)."""
    from hostplane.domains.service import DomainService

    async def action(rt: Runtime) -> tuple[str, str]:
        owner = (await _principal(rt, user)).user
        domain = await DomainService(rt).add(owner, name)
        return domain.name, domain.docroot

    added, docroot = _run(action)
    console.print(f"Domain {added} added for {user}; website folder {docroot}", soft_wrap=True)


@domain_app.command("list")
def domain_list(user: UserOption) -> None:
    """List a user's domains and subdomains."""
    from hostplane.domains.service import DomainService, unicode_form

    async def action(rt: Runtime) -> list[tuple[int, str, str, str]]:
        owner = (await _principal(rt, user)).user
        domains = await DomainService(rt).list_owned(owner)
        return [(d.id, d.name, "subdomain" if d.parent_id else "domain", d.docroot) for d in domains]

    table = Table("id", "name", "display name", "kind", "docroot")
    for id_, name, kind, docroot in _run(action):
        table.add_row(str(id_), name, unicode_form(name), kind, docroot)
    console.print(table)


@domain_app.command("delete")
def domain_delete(name: str, user: UserOption) -> None:
    """Delete a domain (with its subdomains); its website stops being served. The files are kept."""
    from hostplane.domains.service import DomainService, domain_name
    from hostplane.errors import NotFound

    async def action(rt: Runtime) -> str:
        owner = (await _principal(rt, user)).user
        service = DomainService(rt)
        wanted = domain_name(name)
        for domain in await service.list_owned(owner):
            if domain.name == wanted:
                await service.delete(owner, domain.id)
                return domain.name
        raise NotFound(f"{user} has no domain named {wanted}.")

    console.print(f"Domain {_run(action)} deleted.")


@domain_app.command("move")
def domain_move(name: str, to: Annotated[str, typer.Option("--to", help="The panel user who receives it.")]) -> None:
    """Give a domain to another user, with what its owner holds below it (subdomains, mail domains): the website
    files move to the new owner's folder and the sites are served from there when this returns."""
    from hostplane.hosting.moves import DomainMoves, Move

    async def action(rt: Runtime) -> tuple[Move, str]:
        target = await UserAdminService(rt).find_user(to)
        move = await DomainMoves(rt).move(bootstrap.CLI_ACTOR, name, target.id)
        source = await UserAdminService(rt).get_user(move.from_user_id)
        return move, source.username

    move, source = _run(action)
    console.print(f"Domain {move.name} moved from {source} to {to}.", soft_wrap=True)
    if move.websites:
        console.print(f"  websites: {', '.join(move.websites)}", soft_wrap=True)
    if move.mail_domains:
        console.print(f"  mail domains: {', '.join(move.mail_domains)}", soft_wrap=True)


async def _mail_domain_id(rt: Runtime, principal: Principal, name: str) -> int:
    from hostplane.errors import NotFound
    from hostplane.mail.service import MailService

    wanted = name.strip().lower().rstrip(".")
    for domain, _count in await MailService(rt).list_domains(principal):
        if domain.name == wanted:
            return domain.id
    raise NotFound(f"{principal.user.username} has no mail domain named {wanted}.")


async def _mailbox_id(rt: Runtime, principal: Principal, address: str) -> int:
    from hostplane.errors import InvalidInput, NotFound
    from hostplane.mail.service import MailService

    local, at, domain = address.strip().lower().rpartition("@")
    if not at or not local:
        raise InvalidInput.on("address", "A mailbox address is local-part@domain.")
    domain_id = await _mail_domain_id(rt, principal, domain)
    for view in await MailService(rt).list_mailboxes(principal, domain_id):
        if view.mailbox.local_part == local:
            return view.mailbox.id
    raise NotFound(f"{principal.user.username} has no mailbox {address}.")


@mail_domain_app.command("add")
def mail_domain_add(name: str, user: UserOption) -> None:
    """Add a mail domain (mail for it is accepted as soon as this returns)."""
    from hostplane.mail.service import MailService

    async def action(rt: Runtime) -> str:
        domain = await MailService(rt).add_domain(await _principal(rt, user), name)
        return domain.name

    console.print(f"Mail domain {_run(action)} added for {user}.")


@mail_domain_app.command("list")
def mail_domain_list(user: UserOption) -> None:
    """List a user's mail domains."""
    from hostplane.mail.service import MailService

    async def action(rt: Runtime) -> list[tuple[int, str, int]]:
        rows = await MailService(rt).list_domains(await _principal(rt, user))
        return [(domain.id, domain.name, count) for domain, count in rows]

    table = Table("id", "name", "mailboxes")
    for id_, name, count in _run(action):
        table.add_row(str(id_), name, str(count))
    console.print(table)


@mailbox_app.command("add")
def mailbox_add(
    address: str,
    user: UserOption,
    password: Annotated[str | None, typer.Option(help="Password (prompted for if omitted).")] = None,
    generate_password: Annotated[bool, typer.Option("--generate-password", help="Generate and print one.")] = False,
    quota_mb: Annotated[int | None, typer.Option(min=0, help="Megabytes; 0 = unlimited.")] = None,
) -> None:
    """Add a mailbox (IMAP login and delivery work as soon as this returns)."""
    from hostplane.mail.service import MailService

    secret, generated = _new_password(password, generate_password)

    async def action(rt: Runtime) -> str:
        principal = await _principal(rt, user)
        local, _, domain = address.strip().lower().rpartition("@")
        view = await MailService(rt).add_mailbox(
            principal, await _mail_domain_id(rt, principal, domain), local, secret, quota_mb
        )
        return view.address

    console.print(f"Mailbox {_run(action)} added for {user}.")
    if generated:
        console.print(f"Password (shown once): {secret}", soft_wrap=True)


@mailbox_app.command("list")
def mailbox_list(domain: str, user: UserOption) -> None:
    """List the mailboxes of one of a user's mail domains."""
    from hostplane.mail.service import MailService

    async def action(rt: Runtime) -> list[tuple[int, str, int]]:
        principal = await _principal(rt, user)
        views = await MailService(rt).list_mailboxes(principal, await _mail_domain_id(rt, principal, domain))
        return [(view.mailbox.id, view.address, view.mailbox.quota_mb) for view in views]

    table = Table("id", "address", "quota MB")
    for id_, mailbox, quota in _run(action):
        table.add_row(str(id_), mailbox, str(quota or "unlimited"))
    console.print(table)


@mailbox_app.command("passwd")
def mailbox_passwd(
    address: str,
    user: UserOption,
    password: Annotated[str | None, typer.Option(help="New password (prompted for if omitted).")] = None,
    generate_password: Annotated[bool, typer.Option("--generate-password", help="Generate and print one.")] = False,
) -> None:
    """Change a mailbox's password: the old one fails at once and open IMAP sessions end."""
    from hostplane.mail.service import MailService

    secret, generated = _new_password(password, generate_password)

    async def action(rt: Runtime) -> None:
        principal = await _principal(rt, user)
        await MailService(rt).change_password(principal, await _mailbox_id(rt, principal, address), secret)

    _run(action)
    console.print(f"Password of {address} changed.")
    if generated:
        console.print(f"Password (shown once): {secret}", soft_wrap=True)


@mailbox_app.command("delete")
def mailbox_delete(
    address: str,
    user: UserOption,
    remove_mail: Annotated[
        bool, typer.Option("--remove-mail", help="Remove the mail instead of archiving it.")
    ] = False,
) -> None:
    """Delete a mailbox: delivery is refused (550) and logins fail from now on."""
    from hostplane.mail.service import MailService

    async def action(rt: Runtime) -> str:
        principal = await _principal(rt, user)
        mailbox_id = await _mailbox_id(rt, principal, address)
        return await MailService(rt).delete_mailbox(principal, mailbox_id, archive=not remove_mail)

    console.print(f"Mailbox {address} deleted; its mail: {_run(action)}.")


# --- end services and hosting


def main() -> None:
    app()
