"""Certificate files for nginx from the database: the only place a stored private key is decrypted, just to be
written to its 0600 file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hostplane.keys import Keyring
from hostplane.system.nginx import NginxDriver, Site
from hostplane.tls.models import TlsCertificate, key_context


async def restore_missing(keyring: Keyring, driver: NginxDriver, db: AsyncSession, sites: Iterable[Site]) -> set[str]:
    """Write the files of every certificate these sites use that is missing on disk; returns their ids."""
    missing = await asyncio.to_thread(driver.missing_tls, list(sites))
    if not missing:
        return set()
    rows = await db.scalars(select(TlsCertificate).where(TlsCertificate.files_id.in_(sorted(missing))))
    written: set[str] = set()
    for row in rows:
        if row.files_id in written:
            continue
        key_pem = keyring.open(row.private_key_sealed, key_context(row.domain_id))
        fullchain = (row.certificate_pem + row.chain_pem).encode()
        await asyncio.to_thread(driver.write_tls_files, row.files_id, fullchain, key_pem)
        written.add(row.files_id)
    return written
