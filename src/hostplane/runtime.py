"""Everything a running process shares, built once from Settings and handed to the apps and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hostplane.auth.passwords import PasswordHashing
from hostplane.auth.throttle import Throttle
from hostplane.db import make_engine, make_sessionmakers, transaction
from hostplane.keys import Keyring, read_key_file
from hostplane.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    readers: async_sessionmaker[AsyncSession]
    writers: async_sessionmaker[AsyncSession]
    keyring: Keyring
    hashing: PasswordHashing
    throttle: Throttle

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        async with transaction(self.readers) as db:
            yield db

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A write unit of work; keep slow work (hashing, subprocesses) outside it."""
        async with transaction(self.writers) as db:
            yield db

    async def close(self) -> None:
        await self.engine.dispose()


def build_runtime(settings: Settings, *, engine: AsyncEngine | None = None) -> Runtime:
    engine = engine or make_engine(settings.resolved_database_url)
    readers, writers = make_sessionmakers(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        readers=readers,
        writers=writers,
        keyring=Keyring.from_master(read_key_file(settings.resolved_secret_key_file)),
        hashing=PasswordHashing(settings),
        throttle=Throttle(settings),
    )
