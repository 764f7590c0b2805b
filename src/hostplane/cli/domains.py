"""`hostplane domain add|list|delete`: a named user's domains and their websites (domains/service.py)."""

from __future__ import annotations

import typer
from rich.table import Table

from hostplane.cli.common import UserOption, console, principal, run
from hostplane.domains.service import DomainService
from hostplane.errors import NotFound
from hostplane.runtime import Runtime
from hostplane.validation import domain_name, unicode_form

app = typer.Typer(help="Manage a user's domains and websites.", no_args_is_help=True)


@app.command("add")
def domain_add(name: str, user: UserOption) -> None:
    """Add a domain with its website (served as soon as this returns)."""

    async def action(rt: Runtime) -> tuple[str, str]:
        owner = (await principal(rt, user)).user
        domain = await DomainService(rt).add(owner, name)
        return domain.name, domain.docroot

    added, docroot = run(action)
    console.print(f"Domain {added} added for {user}; website folder {docroot}", soft_wrap=True)


@app.command("list")
def domain_list(user: UserOption) -> None:
    """List a user's domains and subdomains."""

    async def action(rt: Runtime) -> list[tuple[int, str, str, str]]:
        owner = (await principal(rt, user)).user
        domains = await DomainService(rt).list_owned(owner)
        return [(d.id, d.name, "subdomain" if d.parent_id else "domain", d.docroot) for d in domains]

    table = Table("id", "name", "display name", "kind", "docroot")
    for id_, name, kind, docroot in run(action):
        table.add_row(str(id_), name, unicode_form(name), kind, docroot)
    console.print(table)


@app.command("delete")
def domain_delete(name: str, user: UserOption) -> None:
    """Delete a domain (with its subdomains); its website stops being served. The files are kept."""

    async def action(rt: Runtime) -> str:
        owner = (await principal(rt, user)).user
        service = DomainService(rt)
        wanted = domain_name(name)
        for domain in await service.list_owned(owner):
            if domain.name == wanted:
                await service.delete(owner, domain.id)
                return domain.name
        raise NotFound(f"{user} has no domain named {wanted}.")

    console.print(f"Domain {run(action)} deleted.")
