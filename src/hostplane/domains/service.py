"""Domains, subdomains and their websites: the rules, and the nginx vhost and docroot that go with each.

Every change is one `Websites.change()` unit (domains/websites.py): the row and the docroot are written, nginx is
checked and reloaded, then the row commits; any failure takes all of it back.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path

import jinja2
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import names, validation
from hostplane.auth.models import User
from hostplane.dbutil import owned
from hostplane.domains.models import Domain
from hostplane.domains.websites import WebsiteChange, Websites
from hostplane.errors import Conflict, InvalidInput
from hostplane.plans.limits import reserve
from hostplane.runtime import Runtime
from hostplane.system.docroots import Ids
from hostplane.system.nginx import Drift
from hostplane.validation import domain_name, unicode_form

ROOT: Ids = (0, 0)


@functools.cache
def _pages() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("hostplane", "templates"), autoescape=True)


def default_page(name: str) -> bytes:
    """The page a new website shows until its owner uploads one (the name is checked, and escaped anyway)."""
    template = _pages().get_template("websites/index.html.j2")
    return template.render(name=name, display_name=unicode_form(name)).encode()


class DomainService:
    def __init__(self, runtime: Runtime, websites: Websites | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.websites = websites or Websites(runtime)
        self.docroots = runtime.drivers.docroots

    # - reads -

    async def list_owned(self, owner: User) -> list[Domain]:
        async with self.runtime.reading() as db:
            rows = await db.scalars(select(Domain).where(Domain.user_id == owner.id).order_by(Domain.name))
            return list(rows)

    async def get(self, owner: User, domain_id: int) -> Domain:
        async with self.runtime.reading() as db:
            return await self._owned(db, owner, domain_id)

    @staticmethod
    async def _owned(db: AsyncSession, owner: User, domain_id: int) -> Domain:
        """The user's domain, or 404 (also when it exists but belongs to someone else)."""
        return await owned(db, select(Domain).where(Domain.id == domain_id, Domain.user_id == owner.id), "domain")

    # - writes -

    async def add(self, owner: User, name: str) -> Domain:
        """Add a main domain: row, docroot with a default page, vhost live when this returns."""
        name = domain_name(name)
        return await self._create(owner, name, parent_id=None)

    async def add_subdomain(self, owner: User, parent_id: int, name: str) -> Domain:
        """Add `<name>.<parent>` under one of the user's main domains."""
        validation.reject_control_chars("name", name)
        async with self.runtime.reading() as db:
            parent = await self._owned(db, owner, parent_id)
        if parent.parent_id is not None:
            raise InvalidInput.on("parent", "Subdomains go under a main domain, not under another subdomain.")
        prefix = name.strip().rstrip(".")
        if not prefix or prefix.startswith("."):
            raise InvalidInput.on("name", "This is not a valid subdomain.", "regex")
        full = domain_name(f"{prefix}.{parent.name}")
        if not full.endswith(f".{parent.name}") or full == parent.name:
            raise InvalidInput.on("name", "This is not a valid subdomain.", "regex")
        return await self._create(owner, full, parent_id=parent.id)

    async def delete(self, owner: User, domain_id: int) -> None:
        """Delete a domain (with its subdomains): its vhosts stop serving when this returns. The files in the
        docroots are kept (the owner may still want them; adding the domain again serves them again)."""
        async with self.websites.change() as change:
            domain = await self._owned(change.db, owner, domain_id)
            await change.db.execute(delete(Domain).where(Domain.parent_id == domain.id))
            await change.db.delete(domain)

    async def _create(self, owner: User, name: str, *, parent_id: int | None) -> Domain:
        docroot = self.docroots.path_for(owner.username, name)
        owner_ids = await self._docroot_owner(owner)
        async with self.websites.change() as change:
            db = change.db
            await names.claim(db, owner.id, name)  # no other account holds it, a name above or below it
            if await db.scalar(select(Domain.id).where(Domain.name == name)) is not None:
                raise Conflict("This domain already exists.")
            if parent_id is None:
                await reserve(db, owner.id, "domains")
            await reserve(db, owner.id, "websites", settings=self.settings)  # and the disk limit
            domain = Domain(user_id=owner.id, name=name, parent_id=parent_id, docroot=str(docroot))
            db.add(domain)
            try:
                await db.flush()
            except IntegrityError as exc:  # a concurrent add of the same name (PostgreSQL)
                raise Conflict("This domain already exists.") from exc
            created = await asyncio.to_thread(self.docroots.create, docroot, default_page(name), owner_ids)
            change.on_rollback(functools.partial(self.docroots.remove, created))
        return domain

    async def hand_over(self, change: WebsiteChange, domains: Sequence[Domain], source: User, target: User) -> None:
        """Give these websites of `source` to `target`, inside the caller's `Websites.change()` unit (an admin's
        move: hosting/moves.py): the target's plan limits for domains and websites are reserved; each site's folder
        is renamed from `<www>/<source>/<name>` to `<www>/<target>/<name>`, and what the source's Linux account
        owned in the docroot becomes the target's (root's for an administrator); the rows follow. If the unit
        does not commit, the folders and their owners are taken back with the rows."""
        db = change.db
        if mains := sum(1 for domain in domains if domain.parent_id is None):
            await reserve(db, target.id, "domains", mains)
        if domains:
            await reserve(db, target.id, "websites", len(domains))
        owners = await self._owners_for_move(source, target)
        target_ids = owners[1] if owners is not None and target.has_system_account else None
        for domain in domains:
            old = self.docroots.path_for(source.username, domain.name)
            if Path(domain.docroot) != old:
                raise Conflict(f"The website folder of {domain.name} is {domain.docroot}, not {old}: move it by hand.")
            new = self.docroots.path_for(target.username, domain.name)
            moved = await asyncio.to_thread(self.docroots.move, old, new, owners)
            change.on_rollback(functools.partial(self.docroots.move_back, moved))
            created = await asyncio.to_thread(self.docroots.create, new, default_page(domain.name), target_ids)
            change.on_rollback(functools.partial(self.docroots.remove, created))  # what the source lacked
            domain.user_id, domain.docroot = target.id, str(new)
        await db.flush()

    async def _owners_for_move(self, source: User, target: User) -> tuple[Ids, Ids] | None:
        """(from, to) of the files of a moved website: each user's Linux account, root for one who has none
        (an administrator); None when the panel manages no Linux accounts."""
        if not self.settings.manage_system_users:
            return None
        before = await self.runtime.system_users.account_ids(source.username) if source.has_system_account else None
        after = await self._docroot_owner(target)
        return before or ROOT, after or ROOT

    # - the desired state -

    async def reconcile(self) -> Drift:
        """Put every nginx file back to the desired state, and every docroot removed by hand; returns what
        differed."""
        async with self.websites.driver.exclusive():
            sites = {site.docroot: site for site in await self.websites.sites()}
            for docroot in await asyncio.to_thread(self.docroots.missing, sites):
                site = sites[docroot]
                ids = await self.runtime.system_users.account_ids(site.owner)  # never creates an account
                await asyncio.to_thread(self.docroots.create, docroot, default_page(site.name), ids)
            return await self.websites.reconcile()

    # - docroots -

    async def _docroot_owner(self, owner: User) -> tuple[int, int] | None:
        """(uid, gid) of the Linux account hp-<username> that owns the user's docroots, created when missing; None
        when the panel manages no Linux accounts or the user has none (administrators)."""
        if not self.settings.manage_system_users or not owner.has_system_account:
            return None
        await self.runtime.system_users.ensure_user(owner.username)  # checks the account is ours
        return await self.runtime.system_users.account_ids(owner.username)
