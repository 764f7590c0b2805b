"""`hostplane plan ...`: hosting plans and who is on which (plans/service.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hostplane import bootstrap
from hostplane.cli.common import console, principal, run
from hostplane.plans.service import PlanService
from hostplane.runtime import Runtime

app = typer.Typer(help="Manage hosting plans (limits: 0 = unlimited).", no_args_is_help=True)


@app.command("create")
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

    plan_id = run(action)
    console.print(f"Plan {name} created (id {plan_id}).")


@app.command("list")
def plan_list() -> None:
    """List the plans with their limits ("-" = unlimited) and how many users each has."""
    views = run(lambda rt: PlanService(rt).list_plans())
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


@app.command("assign")
def plan_assign(
    username: str,
    plan: Annotated[str | None, typer.Argument(help="Plan name; omit for the default plan.")] = None,
) -> None:
    """Put a user on a plan."""

    async def action(rt: Runtime) -> None:
        user = (await principal(rt, username)).user
        service = PlanService(rt)
        plan_id = (await service.find(plan)).id if plan is not None else None
        await service.assign(bootstrap.CLI_ACTOR, user.id, plan_id)

    run(action)
    console.print(f"{username} is now on {'plan ' + plan if plan else 'the default plan'}.")
