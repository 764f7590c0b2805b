"""Domains, subdomains and their websites: the rules, the transaction, and the nginx vhost that goes with each.

Every change runs as one unit: the row is written (flushed, not committed), the whole nginx configuration is
rendered from the database as the transaction sees it, checked, swapped in and reloaded, and only then is the
transaction committed. If nginx refuses the configuration, the error propagates out of the unit of work, so the
row is rolled back and the previous configuration is still the live one. The nginx lock is held across the whole
unit, so two changes never render from states that miss each other's rows.
"""

from __future__ import annotations

import asyncio
import functools
import os
import pwd
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import jinja2
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane import validation
from hostplane.accounts.limits import reserve
from hostplane.accounts.system_users import has_system_user
from hostplane.auth.models import User
from hostplane.domains.models import Domain
from hostplane.errors import Conflict, InvalidInput, NotFound
from hostplane.runtime import Runtime
from hostplane.system.nginx import Drift, NginxDriver, Site
from hostplane.system.ssh import GECOS_MARKER, linux_name
from hostplane.tls import files as tls_files
from hostplane.tls.models import TlsCertificate
from hostplane.validation import domain_name as domain_name  # the one domain-name check, re-exported for old imports
from hostplane.validation import unicode_form as unicode_form

SAFE_USERNAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@functools.cache
def _pages() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("hostplane", "templates"), autoescape=True)


def default_page(name: str) -> bytes:
    """The page a new website shows until its owner uploads one (the name is checked, and escaped anyway)."""
    template = _pages().get_template("websites/index.html.j2")
    return template.render(name=name, display_name=unicode_form(name)).encode()


class DomainService:
    def __init__(self, runtime: Runtime, driver: NginxDriver | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.driver = driver or NginxDriver.from_settings(runtime.settings)

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
        domain = await db.scalar(select(Domain).where(Domain.id == domain_id, Domain.user_id == owner.id))
        if domain is None:
            raise NotFound("No such domain.")
        return domain

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
        async with self.driver.exclusive():
            committed = False
            applied = False
            try:
                async with self.runtime.writing() as db:
                    domain = await self._owned(db, owner, domain_id)
                    await db.execute(delete(Domain).where(Domain.parent_id == domain.id))
                    await db.delete(domain)
                    await db.flush()
                    await self.driver.apply(await self.desired_sites(db))
                    applied = True
                committed = True
            finally:
                if applied and not committed:
                    await self.apply_committed()

    async def _create(self, owner: User, name: str, *, parent_id: int | None) -> Domain:
        docroot = self.docroot_for(owner, name)
        owner_ids = await self._docroot_owner(owner)
        async with self.driver.exclusive():
            created_dirs: list[Path] = []
            committed = False
            applied = False
            try:
                async with self.runtime.writing() as db:
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
                    created_dirs = await asyncio.to_thread(self._make_docroot, docroot, name, owner_ids)
                    await self.driver.apply(await self.desired_sites(db))
                    applied = True
                committed = True
                return domain
            finally:
                if not committed:
                    await asyncio.to_thread(_remove_created, created_dirs)
                    if applied:  # the commit itself failed after the swap: serve what the database holds
                        await self.apply_committed()

    # - the desired state -

    @staticmethod
    async def _sites(db: AsyncSession) -> list[Site]:
        rows = await db.execute(
            select(Domain.id, Domain.name, Domain.docroot, User.username, TlsCertificate.files_id)
            .join(User, User.id == Domain.user_id)
            .outerjoin(TlsCertificate, TlsCertificate.domain_id == Domain.id)
            .order_by(Domain.name)
        )
        return [
            Site(name=name, docroot=Path(docroot), owner=username, domain_id=id_, tls_id=tls_id or "")
            for id_, name, docroot, username, tls_id in rows
        ]

    async def desired_sites(self, db: AsyncSession) -> list[Site]:
        """The sites, with the files of their certificates on disk (written again if someone removed them)."""
        sites = await self._sites(db)
        await tls_files.restore_missing(self.runtime.keyring, self.driver, db, sites)
        return sites

    async def sites(self) -> list[Site]:
        async with self.runtime.reading() as db:
            return await self.desired_sites(db)

    async def apply_committed(self) -> None:
        """Render and apply what the database holds now."""
        async with self.driver.exclusive():
            await self.driver.apply(await self.sites())

    async def start_server(self) -> None:
        """Embedded layout: apply the desired state and start our nginx (for `hostplane serve`)."""
        async with self.driver.exclusive():
            await self.driver.start(await self.sites())

    async def stop_server(self) -> None:
        await self.driver.stop()

    async def reconcile(self) -> Drift:
        """Put every nginx file back to the desired state; returns what differed."""
        async with self.driver.exclusive():
            sites = await self.sites()
            await asyncio.to_thread(self._ensure_docroots, sites)
            return await self.driver.reconcile(sites)

    # - docroots -

    def docroot_for(self, owner: User, name: str) -> Path:
        if not SAFE_USERNAME.match(owner.username):
            raise InvalidInput.on("username", "This account's name cannot be used for a folder.")
        www = self.settings.resolved_www_dir
        path = www / owner.username / name / "public"
        if os.path.normpath(path) != str(path) or www not in path.parents:
            raise InvalidInput.on("name", "This is not a valid domain name.", "regex")
        return path

    async def _docroot_owner(self, owner: User) -> tuple[int, int] | None:
        """(uid, gid) of the Linux account hp-<username> that owns the user's docroots, created when missing; None
        when the panel manages no Linux accounts or the user has none (administrators)."""
        if not self.settings.manage_system_users or not has_system_user(owner):
            return None
        await self.runtime.system_users.ensure_user(owner.username)  # checks the account is ours
        entry = pwd.getpwnam(linux_name(owner.username))
        return entry.pw_uid, entry.pw_gid

    def _existing_owner(self, username: str) -> tuple[int, int] | None:
        """Reconcile: the user's Linux account if it exists and is ours (never creates one)."""
        if not self.settings.manage_system_users:
            return None
        try:
            entry = pwd.getpwnam(linux_name(username))
        except KeyError:
            return None
        return (entry.pw_uid, entry.pw_gid) if entry.pw_gecos == GECOS_MARKER + username and entry.pw_uid else None

    def _make_docroot(self, docroot: Path, name: str, owner_ids: tuple[int, int] | None = None) -> list[Path]:
        """Create the docroot (world-readable: the nginx workers run as nobody) with a default page. Refuses to
        follow a symlink planted anywhere below the www folder. Returns the folders it created, deepest last.
        With `owner_ids`, the docroot and the default page belong to that account (chowned through descriptors
        opened with O_NOFOLLOW; the folders above stay root's, so the user cannot swap them for links)."""
        www = self.settings.resolved_www_dir
        www.mkdir(parents=True, exist_ok=True)
        os.chmod(www, 0o755)  # noqa: S103 (served by nginx)
        created: list[Path] = []
        current = www
        for part in docroot.relative_to(www).parts:
            current = current / part
            try:
                os.mkdir(current, 0o755)
                os.chmod(current, 0o755)  # noqa: S103 (served by nginx)
                created.append(current)
            except FileExistsError:
                if current.is_symlink() or not current.is_dir():
                    raise InvalidInput.on("name", "The website folder for this domain is not usable.") from None
        index = docroot / "index.html"
        if not any(docroot.iterdir()):
            fd = os.open(index, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                if owner_ids is not None:
                    os.fchown(handle.fileno(), *owner_ids)
                handle.write(default_page(name))
        if owner_ids is not None:
            folder = os.open(docroot, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchown(folder, *owner_ids)
            finally:
                os.close(folder)
        return created

    def _ensure_docroots(self, sites: Sequence[Site]) -> None:
        """Reconcile: a docroot removed by hand gets its default page back (only below the www folder)."""
        www = self.settings.resolved_www_dir
        for site in sites:
            if www in site.docroot.parents and not site.docroot.is_dir():
                self._make_docroot(site.docroot, site.name, self._existing_owner(site.owner))


def _remove_created(created: list[Path]) -> None:
    for folder in reversed(created):
        shutil.rmtree(folder, ignore_errors=True)
