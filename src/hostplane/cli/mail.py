"""`hostplane mail domain add|list` and `hostplane mail mailbox add|list|passwd|delete`: a named user's mail
(mail/service.py); domains and mailboxes are named as the admin types them, found among the user's own."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hostplane.auth.principal import Principal
from hostplane.cli.common import UserOption, console, new_password, principal, run
from hostplane.errors import InvalidInput, NotFound
from hostplane.mail.service import MailService
from hostplane.runtime import Runtime

app = typer.Typer(help="Manage a user's mail domains and mailboxes.", no_args_is_help=True)
domain_app = typer.Typer(help="Mail domains of a user.", no_args_is_help=True)
mailbox_app = typer.Typer(help="Mailboxes of a user.", no_args_is_help=True)
app.add_typer(domain_app, name="domain")
app.add_typer(mailbox_app, name="mailbox")


async def _mail_domain_id(rt: Runtime, owner: Principal, name: str) -> int:
    wanted = name.strip().lower().rstrip(".")
    for domain, _count in await MailService(rt).list_domains(owner):
        if domain.name == wanted:
            return domain.id
    raise NotFound(f"{owner.user.username} has no mail domain named {wanted}.")


async def _mailbox_id(rt: Runtime, owner: Principal, address: str) -> int:
    local, at, domain = address.strip().lower().rpartition("@")
    if not at or not local:
        raise InvalidInput.on("address", "A mailbox address is local-part@domain.")
    domain_id = await _mail_domain_id(rt, owner, domain)
    for view in await MailService(rt).list_mailboxes(owner, domain_id):
        if view.mailbox.local_part == local:
            return view.mailbox.id
    raise NotFound(f"{owner.user.username} has no mailbox {address}.")


@domain_app.command("add")
def mail_domain_add(name: str, user: UserOption) -> None:
    """Add a mail domain (mail for it is accepted as soon as this returns)."""

    async def action(rt: Runtime) -> str:
        domain = await MailService(rt).add_domain(await principal(rt, user), name)
        return domain.name

    console.print(f"Mail domain {run(action)} added for {user}.")


@domain_app.command("list")
def mail_domain_list(user: UserOption) -> None:
    """List a user's mail domains."""

    async def action(rt: Runtime) -> list[tuple[int, str, int]]:
        rows = await MailService(rt).list_domains(await principal(rt, user))
        return [(domain.id, domain.name, count) for domain, count in rows]

    table = Table("id", "name", "mailboxes")
    for id_, name, count in run(action):
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
    secret, generated = new_password(password, generate_password)

    async def action(rt: Runtime) -> str:
        owner = await principal(rt, user)
        local, _, domain = address.strip().lower().rpartition("@")
        view = await MailService(rt).add_mailbox(
            owner, await _mail_domain_id(rt, owner, domain), local, secret, quota_mb
        )
        return view.address

    console.print(f"Mailbox {run(action)} added for {user}.")
    if generated:
        console.print(f"Password (shown once): {secret}", soft_wrap=True)


@mailbox_app.command("list")
def mailbox_list(domain: str, user: UserOption) -> None:
    """List the mailboxes of one of a user's mail domains."""

    async def action(rt: Runtime) -> list[tuple[int, str, int]]:
        owner = await principal(rt, user)
        views = await MailService(rt).list_mailboxes(owner, await _mail_domain_id(rt, owner, domain))
        return [(view.mailbox.id, view.address, view.mailbox.quota_mb) for view in views]

    table = Table("id", "address", "quota MB")
    for id_, mailbox, quota in run(action):
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
    secret, generated = new_password(password, generate_password)

    async def action(rt: Runtime) -> None:
        owner = await principal(rt, user)
        await MailService(rt).change_password(owner, await _mailbox_id(rt, owner, address), secret)

    run(action)
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

    async def action(rt: Runtime) -> str:
        owner = await principal(rt, user)
        mailbox_id = await _mailbox_id(rt, owner, address)
        return await MailService(rt).delete_mailbox(owner, mailbox_id, archive=not remove_mail)

    console.print(f"Mailbox {address} deleted; its mail: {run(action)}.")
