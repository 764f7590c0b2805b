"""`hostplane domain add|list|delete|move`: a named user's domains and their websites (domains/service.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hostplane.bootstrap import CLI_ACTOR
from hostplane.cli.common import UserOption, console, principal, run
from hostplane.domains.service import DomainService
from hostplane.errors import NotFound
from hostplane.hosting.moves import DomainMoves, Move
from hostplane.runtime import Runtime
from hostplane.users.service import UserAdminService
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


@app.command("move")
def domain_move(name: str, to: Annotated[str, typer.Option("--to", help="The panel user who receives it.")]) -> None:
    """Give a domain to another user, with what its owner holds below it (subdomains, mail domains): the website
    files move to the new owner's folder and the sites are served from there when this returns."""

    async def action(rt: Runtime) -> tuple[Move, str]:
        target = await UserAdminService(rt).find_user(to)
        move = await DomainMoves(rt).move(CLI_ACTOR, name, target.id)
        source = await UserAdminService(rt).get_user(move.from_user_id)
        return move, source.username

    move, source = run(action)
    console.print(f"Domain {move.name} moved from {source} to {to}.", soft_wrap=True)
    if move.websites:
        console.print(f"  websites: {', '.join(move.websites)}", soft_wrap=True)
    if move.mail_domains:
        console.print(f"  mail domains: {', '.join(move.mail_domains)}", soft_wrap=True)
