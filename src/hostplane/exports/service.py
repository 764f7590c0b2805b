"""Export a domain as a tar.gz streamed to the client: its website files, the Maildirs of its mailboxes and a
manifest, never whole in memory (the archive itself is written by system/archive.py).

Archive layout (everything under one folder named after the domain):

    <domain>/manifest.json               domain, created_at, website, mailboxes (address, quota), aliases
    <domain>/website/...                 the docroot's files (when the domain is a website)
    <domain>/mail/<local part>/Maildir/  each mailbox's Maildir (when the domain is a mail domain)

Nothing secret goes in: no password hashes, no keys, no certificates' keys.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hostplane.auth.models import User
from hostplane.domains.models import Domain
from hostplane.errors import NotFound
from hostplane.mail.models import MailAlias, Mailbox, MailDomain
from hostplane.runtime import Runtime
from hostplane.system.archive import ExportPlan, ExportStream
from hostplane.system.mailpaths import MailPaths

MAX_HOSTNAME = 253


class ExportService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.paths = MailPaths.from_settings(runtime.settings)

    async def domain_name(self, owner: User, domain_id: int) -> str:
        """The name of one of the owner's domains by id, or 404."""
        async with self.runtime.reading() as db:
            name = await db.scalar(select(Domain.name).where(Domain.id == domain_id, Domain.user_id == owner.id))
        if name is None:
            raise NotFound("No such domain.")
        return name

    async def mail_domain_name(self, owner: User, mail_domain_id: int) -> str:
        """The name of one of the owner's mail domains by id, or 404."""
        async with self.runtime.reading() as db:
            name = await db.scalar(
                select(MailDomain.name).where(MailDomain.id == mail_domain_id, MailDomain.user_id == owner.id)
            )
        if name is None:
            raise NotFound("No such mail domain.")
        return name

    async def open_export(self, owner: User, hostname: str) -> ExportStream:
        """The export of one of the owner's domains (a website, a mail domain, or both under that name); NotFound
        when the owner has neither."""
        name = hostname.strip().rstrip(".").lower()
        if not name or len(name) > MAX_HOSTNAME:
            raise NotFound("No such domain.")
        async with self.runtime.reading() as db:
            website = await db.scalar(select(Domain).where(Domain.name == name, Domain.user_id == owner.id))
            mail_domain = await db.scalar(
                select(MailDomain).where(MailDomain.name == name, MailDomain.user_id == owner.id)
            )
            if website is None and mail_domain is None:
                raise NotFound("No such domain.")
            boxes: list[Mailbox] = []
            aliases: list[MailAlias] = []
            if mail_domain is not None:
                boxes = list(
                    await db.scalars(
                        select(Mailbox).where(Mailbox.domain_id == mail_domain.id).order_by(Mailbox.local_part)
                    )
                )
                aliases = list(
                    await db.scalars(
                        select(MailAlias)
                        .where(MailAlias.domain_id == mail_domain.id)
                        .order_by(MailAlias.local_part, MailAlias.destination)
                    )
                )
        now = dt.datetime.now(dt.UTC)
        manifest: dict[str, Any] = {
            "format": "hostplane-export/1",
            "domain": name,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "website": None if website is None else {"kind": website.kind, "folder": f"{name}/website/"},
            "mail_domain": mail_domain is not None,
            "mailboxes": [
                {
                    "address": f"{box.local_part}@{name}",
                    "quota_mb": box.quota_mb,
                    "folder": f"{name}/mail/{box.local_part}/Maildir/",
                }
                for box in boxes
            ],
            "aliases": [
                {"address": f"{alias.local_part}@{name}", "destination": alias.destination} for alias in aliases
            ],
        }
        plan = ExportPlan(
            name=name,
            website=None if website is None else Path(website.docroot),
            maildirs=[(box.local_part, self.paths.mailbox_home(name, box.local_part) / "Maildir") for box in boxes],
            manifest=manifest,
        )
        return ExportStream(filename=f"{name}-{now:%Y%m%dT%H%M%SZ}.tar.gz", plan=plan)
