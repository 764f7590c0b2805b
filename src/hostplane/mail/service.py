"""Mail domains, mailboxes and aliases: the rules, the transaction, and the lookup rows that make them live.

Every change is one unit of work on the panel database (the truth) plus the matching O(1) row change in the
lookup files Postfix and Dovecot read (system/maillookup.py). The lookup change is made inside the unit and
undone if the unit fails, so neither side is left half-changed; `reapply()` repairs any drift from the truth.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import names, validation
from hostplane.auth.principal import Principal
from hostplane.dbutil import owned, owned_row
from hostplane.errors import Conflict, InvalidInput
from hostplane.mail.dkim import DkimService
from hostplane.mail.models import MailAlias, Mailbox, MailDomain
from hostplane.plans.limits import reserve
from hostplane.runtime import Runtime
from hostplane.security.passwords import check_password_policy
from hostplane.system.maillookup import Drift, LookupState, MailboxRow, dovecot_password
from hostplane.system.mailpaths import MailPaths

log = logging.getLogger("hostplane.mail")

LOCAL_PART = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*$")
"""Lowercase letters, digits, '_', '-' and single inner dots; starts with a letter or digit. No '/', no '..',
no '+' (kept free as a future recipient delimiter), no quoting: it is also a folder name."""
MAX_QUOTA_MB = 1024 * 1024
_ensured: set[str] = set()


def local_part(value: str, field_name: str = "local_part") -> str:
    validation.reject_control_chars(field_name, value)
    value = value.strip().lower()
    if len(value) > 64 or not LOCAL_PART.match(value):
        raise InvalidInput.on(
            field_name,
            "A local part is 1 to 64 characters: lowercase letters, digits, '_', '-' and single inner dots, "
            "starting with a letter or digit.",
            "regex",
        )
    return value


def quota(value: int | None, default: int, field_name: str = "quota_mb") -> int:
    if value is None:
        return default
    if value < 0 or value > MAX_QUOTA_MB:
        raise InvalidInput.on(field_name, f"The quota is 0 (unlimited) to {MAX_QUOTA_MB} MB.", "between")
    return value


@dataclass
class MailChange:
    """One change of the mail side: the unit's session, and the lookup changes made so far with how to take each
    back (see MailService.change)."""

    db: AsyncSession
    steps: list[Callable[[], None]] = field(default_factory=list)

    async def apply(self, change: Callable[[], None], undo: Callable[[], None]) -> None:
        """Run `change`; `undo` is registered first, so a change that fails half-way is taken back too (every
        undo is idempotent)."""
        self.steps.append(undo)
        await asyncio.to_thread(change)

    def rollback(self) -> None:
        """Synchronous on purpose: it must run to the end even when the task is being cancelled."""
        for undo in reversed(self.steps):
            try:
                undo()
            except Exception:  # the next reapply() repairs what could not be undone here
                log.exception("could not undo a mail lookup change; run `hostplane reconcile`")
        self.steps.clear()


@dataclass(frozen=True)
class MailboxView:
    mailbox: Mailbox
    domain: MailDomain

    @property
    def address(self) -> str:
        return f"{self.mailbox.local_part}@{self.domain.name}"


class MailService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.paths = MailPaths.from_settings(runtime.settings)
        self.lookup = runtime.drivers.mail_lookup
        self.dovecot = runtime.drivers.mailboxes

    @asynccontextmanager
    async def change(self) -> AsyncIterator[MailChange]:
        """One change of mail domains, mailboxes or aliases: a unit of work on the panel database (the truth) plus
        the matching row changes in the lookup files, made with `MailChange.apply`. If anything fails, the
        transaction rolls back and every lookup change made so far is taken back."""
        await self._ready()
        change: MailChange | None = None
        try:
            async with self.rt.writing() as db:
                change = MailChange(db)
                yield change
        except BaseException:
            if change is not None:
                change.rollback()
            raise

    async def _ready(self) -> None:
        key = str(self.paths.lookup)
        if key not in _ensured:
            await asyncio.to_thread(self.lookup.ensure)
            _ensured.add(key)

    def _row(self, domain: MailDomain, mailbox: Mailbox) -> MailboxRow:
        return MailboxRow(
            address=f"{mailbox.local_part}@{domain.name}",
            password=dovecot_password(mailbox.password_hash),
            home=str(self.paths.mailbox_home(domain.name, mailbox.local_part)),
            quota_mb=mailbox.quota_mb,
        )

    # --- lookups scoped to the owner (another user's object is a 404) -----------------------------------
    @staticmethod
    async def _domain(db: AsyncSession, principal: Principal, domain_id: int) -> MailDomain:
        query = select(MailDomain).where(MailDomain.id == domain_id, MailDomain.user_id == principal.user.id)
        return await owned(db, query, "mail domain")

    @staticmethod
    async def _mailbox(db: AsyncSession, principal: Principal, mailbox_id: int) -> MailboxView:
        row = await owned_row(
            db,
            select(Mailbox, MailDomain)
            .join(MailDomain, MailDomain.id == Mailbox.domain_id)
            .where(Mailbox.id == mailbox_id, MailDomain.user_id == principal.user.id),
            "mailbox",
        )
        return MailboxView(row[0], row[1])

    # --- domains --------------------------------------------------------------------------------------
    async def list_domains(self, principal: Principal) -> list[tuple[MailDomain, int]]:
        counts = select(Mailbox.domain_id, func.count().label("n")).group_by(Mailbox.domain_id).subquery()
        async with self.rt.reading() as db:
            rows = await db.execute(
                select(MailDomain, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.domain_id == MailDomain.id)
                .where(MailDomain.user_id == principal.user.id)
                .order_by(MailDomain.name)
            )
            return [(domain, int(count)) for domain, count in rows.all()]

    async def get_domain(self, principal: Principal, domain_id: int) -> tuple[MailDomain, int]:
        async with self.rt.reading() as db:
            domain = await self._domain(db, principal, domain_id)
            count = await db.scalar(select(func.count()).select_from(Mailbox).where(Mailbox.domain_id == domain.id))
            return domain, int(count or 0)

    async def add_domain(self, principal: Principal, name: str) -> MailDomain:
        name = validation.domain_name(name, "name")
        async with self.change() as change:
            domain = await self._new_domain(change, principal, name)
        return domain

    async def add_domain_with_mailbox(
        self, principal: Principal, name: str, local: str, password: str, quota_mb: int | None = None
    ) -> MailboxView:
        """A mail domain and its first mailbox, or neither: both rows and their lookup rows in one unit, so a
        mailbox that is refused (password, address, plan limit) or fails leaves no domain behind."""
        name = validation.domain_name(name, "name")
        local = local_part(local)
        size = quota(quota_mb, self.rt.settings.mail_default_quota_mb)
        check_password_policy(password, self.rt.settings, username=f"{local}@{name}")
        password_hash = await self.rt.hashing.hash(password)  # outside the unit: no lock held while hashing
        async with self.change() as change:
            domain = await self._new_domain(change, principal, name)
            mailbox = await self._new_mailbox(change, principal, domain, local, password_hash, size)
        return MailboxView(mailbox, domain)

    async def _new_domain(self, change: MailChange, principal: Principal, name: str) -> MailDomain:
        """Inside a unit: the domain's row and lookup row (`name` already validated)."""
        db = change.db
        await names.claim(db, principal.user.id, name)  # no other account holds it, a name above or below it
        if await db.scalar(select(MailDomain.id).where(MailDomain.name == name)) is not None:
            raise Conflict("This mail domain already exists.")
        await reserve(db, principal.user.id, "disk_mb", 0, settings=self.rt.settings)  # refused when full
        domain = MailDomain(user_id=principal.user.id, name=name)
        db.add(domain)
        await self._flush(db, "This mail domain already exists.")
        await change.apply(partial(self.lookup.put_domain, name), partial(self.lookup.remove_domain, name))
        return domain

    async def delete_domain(self, principal: Principal, domain_id: int, *, archive: bool = True) -> str:
        """The domain, its mailboxes and aliases; delivery to any of them is refused at once. Returns what
        became of the domain's mail folder: "archived", "removed" or "absent"."""
        async with self.change() as change:
            db = change.db
            domain = await self._domain(db, principal, domain_id)
            mailboxes = list(await db.scalars(select(Mailbox).where(Mailbox.domain_id == domain.id)))
            name = domain.name
            aliases = [
                (f"{alias.local_part}@{name}", alias.destination)
                for alias in await db.scalars(select(MailAlias).where(MailAlias.domain_id == domain.id))
            ]
            rows = [self._row(domain, mailbox) for mailbox in mailboxes]
            await db.execute(delete(MailAlias).where(MailAlias.domain_id == domain.id))
            await db.execute(delete(Mailbox).where(Mailbox.domain_id == domain.id))
            await db.delete(domain)
            await db.flush()

            def restore() -> None:
                self.lookup.put_domain(name)
                for row in rows:
                    self.lookup.put_mailbox(row)
                for source, destination in aliases:
                    self.lookup.put_alias(source, destination)

            await change.apply(partial(self.lookup.remove_domain, name), restore)
        for row in rows:
            await self.dovecot.kick(row.address)
        await DkimService(self.rt).forget(name)  # its key row went with the domain (ON DELETE CASCADE)
        return await asyncio.to_thread(
            self.dovecot.dispose_maildir, self.paths.vmail / name, archive=archive, label=f"{name}-{_stamp()}"
        )

    # --- mailboxes ------------------------------------------------------------------------------------
    async def list_mailboxes(self, principal: Principal, domain_id: int) -> list[MailboxView]:
        async with self.rt.reading() as db:
            domain = await self._domain(db, principal, domain_id)
            boxes = await db.scalars(select(Mailbox).where(Mailbox.domain_id == domain.id).order_by(Mailbox.local_part))
            return [MailboxView(box, domain) for box in boxes]

    async def get_mailbox(self, principal: Principal, mailbox_id: int) -> MailboxView:
        async with self.rt.reading() as db:
            return await self._mailbox(db, principal, mailbox_id)

    async def add_mailbox(
        self, principal: Principal, domain_id: int, local: str, password: str, quota_mb: int | None = None
    ) -> MailboxView:
        """A mailbox that can log in over IMAP and receive mail as soon as this returns."""
        local = local_part(local)
        size = quota(quota_mb, self.rt.settings.mail_default_quota_mb)
        async with self.rt.reading() as db:
            domain = await self._domain(db, principal, domain_id)
        check_password_policy(password, self.rt.settings, username=f"{local}@{domain.name}")
        password_hash = await self.rt.hashing.hash(password)
        async with self.change() as change:
            domain = await self._domain(change.db, principal, domain_id)
            mailbox = await self._new_mailbox(change, principal, domain, local, password_hash, size)
        return MailboxView(mailbox, domain)

    async def _new_mailbox(
        self, change: MailChange, principal: Principal, domain: MailDomain, local: str, password_hash: str, size: int
    ) -> Mailbox:
        """Inside a unit: the mailbox's row and lookup rows, within the plan (`local` and `size` already checked)."""
        db = change.db
        await self._check_address_free(db, domain, local)
        await reserve(db, principal.user.id, "mailboxes", settings=self.rt.settings)  # and the disk limit
        await reserve(db, principal.user.id, "mail_quota_mb", size)
        mailbox = Mailbox(domain_id=domain.id, local_part=local, password_hash=password_hash, quota_mb=size)
        db.add(mailbox)
        await self._flush(db, "This address is already in use.")
        row = self._row(domain, mailbox)
        await change.apply(partial(self.lookup.put_mailbox, row), partial(self.lookup.remove_mailbox, row.address))
        return mailbox

    async def change_password(self, principal: Principal, mailbox_id: int, password: str) -> None:
        """The new password works at once and the old one fails at once; open IMAP sessions are ended."""
        async with self.rt.reading() as db:
            view = await self._mailbox(db, principal, mailbox_id)
        check_password_policy(password, self.rt.settings, username=view.address)
        password_hash = await self.rt.hashing.hash(password)
        async with self.change() as change:
            db = change.db
            view = await self._mailbox(db, principal, mailbox_id)
            old = dovecot_password(view.mailbox.password_hash)
            view.mailbox.password_hash = password_hash
            await db.flush()
            address = view.address
            await change.apply(
                partial(self.lookup.set_password, address, dovecot_password(password_hash)),
                partial(self.lookup.set_password, address, old),
            )
        await self.dovecot.kick(address)

    async def delete_mailbox(self, principal: Principal, mailbox_id: int, *, archive: bool = True) -> str:
        """Delivery is refused (550) and logins fail from now on. The Maildir is moved to the archive or
        removed; returns "archived", "removed" or "absent" (never received mail nor logged in)."""
        async with self.change() as change:
            db = change.db
            view = await self._mailbox(db, principal, mailbox_id)
            row = self._row(view.domain, view.mailbox)
            domain_name, local = view.domain.name, view.mailbox.local_part
            await db.delete(view.mailbox)
            await db.flush()
            await change.apply(partial(self.lookup.remove_mailbox, row.address), partial(self.lookup.put_mailbox, row))
        await self.dovecot.kick(row.address)
        return await asyncio.to_thread(
            self.dovecot.dispose_maildir,
            self.paths.mailbox_home(domain_name, local),
            archive=archive,
            label=f"{domain_name}/{local}-{_stamp()}-{mailbox_id}",
        )

    # --- aliases --------------------------------------------------------------------------------------
    async def list_aliases(self, principal: Principal, domain_id: int) -> list[tuple[MailAlias, MailDomain]]:
        async with self.rt.reading() as db:
            domain = await self._domain(db, principal, domain_id)
            aliases = await db.scalars(
                select(MailAlias)
                .where(MailAlias.domain_id == domain.id)
                .order_by(MailAlias.local_part, MailAlias.destination)
            )
            return [(alias, domain) for alias in aliases]

    async def add_alias(
        self, principal: Principal, domain_id: int, local: str, destination: str
    ) -> tuple[MailAlias, MailDomain]:
        local = local_part(local)
        target = validation.email(destination, "destination")
        async with self.change() as change:
            db = change.db
            domain = await self._domain(db, principal, domain_id)
            source = f"{local}@{domain.name}"
            if target == source:
                raise InvalidInput.on("destination", "An alias cannot point to itself.", "different")
            taken = await db.scalar(
                select(Mailbox.id).where(Mailbox.domain_id == domain.id, Mailbox.local_part == local)
            )
            if taken is not None:
                raise Conflict("This address is a mailbox.")
            duplicate = await db.scalar(
                select(MailAlias.id).where(
                    MailAlias.domain_id == domain.id,
                    MailAlias.local_part == local,
                    MailAlias.destination == target,
                )
            )
            if duplicate is not None:
                raise Conflict("This alias already exists.")
            alias = MailAlias(domain_id=domain.id, local_part=local, destination=target)
            db.add(alias)
            await self._flush(db, "This alias already exists.")
            await change.apply(
                partial(self.lookup.put_alias, source, target), partial(self.lookup.remove_alias, source, target)
            )
        return alias, domain

    async def delete_alias(self, principal: Principal, alias_id: int) -> None:
        async with self.change() as change:
            db = change.db
            row = await owned_row(
                db,
                select(MailAlias, MailDomain)
                .join(MailDomain, MailDomain.id == MailAlias.domain_id)
                .where(MailAlias.id == alias_id, MailDomain.user_id == principal.user.id),
                "alias",
            )
            alias, domain = row
            source, target = f"{alias.local_part}@{domain.name}", alias.destination
            await db.delete(alias)
            await db.flush()
            await change.apply(
                partial(self.lookup.remove_alias, source, target), partial(self.lookup.put_alias, source, target)
            )

    # --- reconcile ------------------------------------------------------------------------------------
    async def reapply(self) -> Drift:
        """Rebuild the lookup files from the panel database (the truth) and report what differed."""
        desired = LookupState()
        async with self.rt.reading() as db:
            domains = {domain.id: domain for domain in await db.scalars(select(MailDomain))}
            desired.domains = {domain.name for domain in domains.values()}
            for mailbox in await db.scalars(select(Mailbox)):
                row = self._row(domains[mailbox.domain_id], mailbox)
                desired.mailboxes[row.address] = row
            for alias in await db.scalars(select(MailAlias)):
                desired.aliases.add((f"{alias.local_part}@{domains[alias.domain_id].name}", alias.destination))
        drift = await asyncio.to_thread(self.lookup.rebuild, desired)
        _ensured.add(str(self.paths.lookup))
        return drift

    # --- helpers --------------------------------------------------------------------------------------
    @staticmethod
    async def _check_address_free(db: AsyncSession, domain: MailDomain, local: str) -> None:
        if await db.scalar(select(Mailbox.id).where(Mailbox.domain_id == domain.id, Mailbox.local_part == local)):
            raise Conflict("This mailbox already exists.")
        if await db.scalar(select(MailAlias.id).where(MailAlias.domain_id == domain.id, MailAlias.local_part == local)):
            raise Conflict("This address is an alias.")

    @staticmethod
    async def _flush(db: AsyncSession, message: str) -> None:
        """Flush, turning a unique-constraint race (two creates at once) into a 409."""
        try:
            await db.flush()
        except IntegrityError as exc:
            raise Conflict(message) from exc


async def hand_over_domains(db: AsyncSession, domains: Sequence[MailDomain], target_id: int) -> None:
    """Give these mail domains, with their mailboxes, aliases and DKIM keys, to account `target_id` inside the
    caller's unit of work (an admin's move: hosting/moves.py): the target's plan limits for mailboxes and their
    quota are reserved, then the rows follow. Nothing else changes: the lookup rows and the Maildirs name the
    domain, never its account, so mail is delivered and read as before."""
    ids = [domain.id for domain in domains]
    if not ids:
        return
    count, total, unlimited = (
        await db.execute(
            select(
                func.count(Mailbox.id),
                func.coalesce(func.sum(Mailbox.quota_mb), 0),
                func.count(Mailbox.id).filter(Mailbox.quota_mb == 0),
            ).where(Mailbox.domain_id.in_(ids))
        )
    ).one()
    if count:
        await reserve(db, target_id, "mailboxes", int(count))
    if total:
        await reserve(db, target_id, "mail_quota_mb", int(total))
    if unlimited:
        await reserve(db, target_id, "mail_quota_mb", 0)  # refused under a quota limit, as for a new mailbox
    for domain in domains:
        domain.user_id = target_id
    await db.flush()


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
