"""The websites' side of the host: nginx's desired state, read from the database, and the one unit of work that
every change to it goes through (a domain, a subdomain, a certificate).

A change runs as one unit: the caller writes its rows (flushed, not committed) and registers how to take back any
file it wrote; on leaving the block, the whole nginx configuration is rendered from the database as the
transaction sees it, checked (`nginx -t`), swapped in and reloaded, and only then is the transaction committed.
If anything fails (the caller's rule, nginx refusing the configuration, the commit), the rows roll back, the
files are taken back and nginx serves the committed state again. The nginx lock is held across the whole unit,
so two changes never render from states that miss each other's rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.auth.models import User
from hostplane.domains.models import Domain
from hostplane.runtime import Runtime
from hostplane.system.interfaces import WebsitesDriver
from hostplane.system.nginx import Drift, Site
from hostplane.tls.models import TlsCertificate, key_context

log = logging.getLogger("hostplane.domains")


@dataclass
class WebsiteChange:
    """What a caller of `Websites.change()` works with: the unit's session, and the undo steps of its files."""

    db: AsyncSession
    undo: list[Callable[[], None]] = field(default_factory=list)

    def on_rollback(self, step: Callable[[], None]) -> None:
        """Run `step` (in a thread, best effort) if the change does not commit: e.g. remove files written for it."""
        self.undo.append(step)


class Websites:
    """nginx as the database wants it."""

    def __init__(self, runtime: Runtime, driver: WebsitesDriver | None = None) -> None:
        self.runtime = runtime
        self.driver = driver or runtime.drivers.websites

    @asynccontextmanager
    async def change(self) -> AsyncIterator[WebsiteChange]:
        """One change of the websites (see the module's docstring)."""
        async with self.driver.exclusive():
            change: WebsiteChange | None = None
            applied = committed = False
            try:
                async with self.runtime.writing() as db:
                    change = WebsiteChange(db)
                    yield change
                    await db.flush()
                    await self.driver.apply(await self.desired(db))
                    applied = True
                committed = True
            finally:
                if not committed:
                    for step in reversed(change.undo if change else []):
                        try:
                            await asyncio.to_thread(step)
                        except Exception:  # the next reconcile repairs what could not be taken back here
                            log.exception("could not take back a website file; run `hostplane reconcile`")
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

    async def desired(self, db: AsyncSession) -> list[Site]:
        """The sites, with the files of their certificates on disk (written again if someone removed them)."""
        sites = await self._sites(db)
        await self._restore_certificate_files(db, sites)
        return sites

    async def _restore_certificate_files(self, db: AsyncSession, sites: list[Site]) -> set[str]:
        """Write the files of every certificate these sites use that is missing on disk: the only place a stored
        private key is decrypted, just to be written to its 0600 file. Returns the ids written."""
        missing = await asyncio.to_thread(self.driver.missing_tls, sites)
        if not missing:
            return set()
        rows = await db.scalars(select(TlsCertificate).where(TlsCertificate.files_id.in_(sorted(missing))))
        written: set[str] = set()
        for row in rows:
            if row.files_id in written:
                continue
            key_pem = self.runtime.keyring.open(row.private_key_sealed, key_context(row.domain_id))
            fullchain = (row.certificate_pem + row.chain_pem).encode()
            await asyncio.to_thread(self.driver.write_tls_files, row.files_id, fullchain, key_pem)
            written.add(row.files_id)
        return written

    async def sites(self) -> list[Site]:
        async with self.runtime.reading() as db:
            return await self.desired(db)

    async def apply_committed(self) -> None:
        """Render and apply what the database holds now."""
        async with self.driver.exclusive():
            await self.driver.apply(await self.sites())

    async def start(self) -> None:
        """Embedded layout: apply the desired state and start our nginx (for `hostplane serve`)."""
        async with self.driver.exclusive():
            await self.driver.start(await self.sites())

    async def stop(self) -> None:
        await self.driver.stop()

    async def reconcile(self) -> Drift:
        """Put every nginx file back to the desired state; returns what differed."""
        async with self.driver.exclusive():
            return await self.driver.reconcile(await self.sites())
