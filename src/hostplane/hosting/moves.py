"""An administrator moves a domain from one account to another; shared by the admin API and the CLI.

What moves: a name belongs to one account with every name below it (hostplane.names), so a move takes the whole
tree the source account holds from that name down: the website of the name and its subdomains, any other website
below it, and the mail domains of the name and below it (with their mailboxes, aliases and DKIM keys). A name
below another name the account holds cannot move alone (move the one above).

One unit of work (`Websites.change()`): under the name's lock, the rows change owner, each site's folder moves
below the target's www folder (its files owned by the target's Linux account), the target's plan limits are
reserved (domains, websites, mailboxes, mailbox quota, and the disk the moved folders and Maildirs take), nginx is
checked and reloaded (the docroot path names the account), the activity of both accounts is logged, and only then
does it commit. Any failure takes it all back, files and owners included. Mail needs no other change: the lookup
rows and the Maildirs name the domain, never its account. Certificates stay with their websites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import names
from hostplane.activity import log as activity
from hostplane.activity.events import Event
from hostplane.activity.log import Actor
from hostplane.auth.models import User
from hostplane.domains.models import Domain
from hostplane.domains.service import DomainService
from hostplane.domains.websites import Websites
from hostplane.errors import Conflict, NotFound
from hostplane.mail.models import MailDomain
from hostplane.mail.service import hand_over_domains
from hostplane.plans.limits import measure_trees_mb, plan_limit, plan_of, reserve
from hostplane.runtime import Runtime
from hostplane.system.mailpaths import MailPaths
from hostplane.validation import domain_name

Row = TypeVar("Row", Domain, MailDomain)


@dataclass(frozen=True)
class Move:
    """What a move did."""

    name: str
    from_user_id: int
    to_user_id: int
    websites: list[str]
    mail_domains: list[str]


class DomainMoves:
    def __init__(self, runtime: Runtime, websites: Websites | None = None) -> None:
        self.rt = runtime
        self.websites = websites or Websites(runtime)
        self.domains = DomainService(runtime, self.websites)

    async def move_website(self, actor: Actor, domain_id: int, to_user_id: int) -> Move:
        """Move the name of a website (any account's, by id)."""
        async with self.rt.reading() as db:
            name = await db.scalar(select(Domain.name).where(Domain.id == domain_id))
        if name is None:
            raise NotFound("No such domain.")
        return await self.move(actor, name, to_user_id)

    async def move_mail_domain(self, actor: Actor, mail_domain_id: int, to_user_id: int) -> Move:
        """Move the name of a mail domain (any account's, by id)."""
        async with self.rt.reading() as db:
            name = await db.scalar(select(MailDomain.name).where(MailDomain.id == mail_domain_id))
        if name is None:
            raise NotFound("No such mail domain.")
        return await self.move(actor, name, to_user_id)

    async def move(self, actor: Actor, name: str, to_user_id: int) -> Move:
        """Give `name` (and what its account holds below it) to account `to_user_id` (see the module)."""
        name = domain_name(name)
        async with self.websites.change() as change:
            db = change.db
            target = await db.get(User, to_user_id)
            if target is None:
                raise NotFound("No such user.")
            await names.lock(db, [name])
            source = await self._source(db, name, target)
            moving = [
                held
                for held in await names.holdings(db, name, above=False)
                if held.user_id == source.id and names.is_at_or_below(held.name, name)
            ]
            websites = await self._rows(db, Domain, [held.id for held in moving if held.kind == "website"])
            mail_domains = await self._rows(db, MailDomain, [held.id for held in moving if held.kind == "mail"])
            await self._reserve_disk(db, source, target, websites, mail_domains)
            await self.domains.hand_over(change, websites, source, target)
            await hand_over_domains(db, mail_domains, target.id)
            moved = Move(
                name=name,
                from_user_id=source.id,
                to_user_id=target.id,
                websites=[domain.name for domain in websites],
                mail_domains=[domain.name for domain in mail_domains],
            )
            details = {"name": name, "websites": moved.websites, "mail_domains": moved.mail_domains}
            activity.record(db, Event.DOMAIN_MOVED_OUT, actor, user_id=source.id, **details)
            activity.record(db, Event.DOMAIN_MOVED_IN, actor, user_id=target.id, **details)
        return moved

    @staticmethod
    async def _source(db: AsyncSession, name: str, target: User) -> User:
        """The account that holds `name`, after checking that the move keeps every tree with one account."""
        held = await names.holdings(db, name)
        holders = {holding.user_id for holding in held if holding.name == name}
        if not holders:
            raise NotFound(f"No website or mail domain is named {name}.")
        if len(holders) > 1:
            raise Conflict(f"Several accounts hold {name}: give it to one of them first.")
        source_id = holders.pop()
        if source_id == target.id:
            raise Conflict(f"{name} belongs to this account already.")
        for holding in held:
            if not names.is_at_or_below(holding.name, name) and holding.user_id == source_id:
                raise Conflict(f"{name} is below {holding.name}, which its account holds too: move {holding.name}.")
            if holding.user_id not in (source_id, target.id):
                raise Conflict(f"Another account holds {holding.name}, in the same tree as {name}.")
        source = await db.get(User, source_id)
        if source is None:  # the rows reference it (ON DELETE CASCADE)
            raise NotFound("No such user.")
        return source

    @staticmethod
    async def _rows(db: AsyncSession, model: type[Row], ids: list[int]) -> list[Row]:
        if not ids:
            return []
        return list(await db.scalars(select(model).where(model.id.in_(ids)).order_by(model.name)))

    async def _reserve_disk(
        self, db: AsyncSession, source: User, target: User, websites: list[Domain], mail: list[MailDomain]
    ) -> None:
        """The target's disk limit, with what the move brings: the site folders and the Maildirs (measured only
        under a disk limit)."""
        settings = self.rt.settings
        plan, _assigned = await plan_of(db, target.id)
        if not plan_limit(plan, "disk_mb"):
            return
        vmail = MailPaths.from_settings(settings).vmail
        folders = [self.domains.docroots.path_for(source.username, domain.name).parent for domain in websites]
        size = await measure_trees_mb([*folders, *(vmail / domain.name for domain in mail)])
        await reserve(db, target.id, "disk_mb", size, settings=settings)
