"""Everything a running process shares, built once from Settings and handed to the apps and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hostplane.clock import Clock, SystemClock
from hostplane.db import make_engine, make_sessionmakers, transaction
from hostplane.keys import Keyring, read_key_file
from hostplane.security.credentials import CredentialCache
from hostplane.security.passwords import PasswordHashing
from hostplane.security.throttle import Throttle
from hostplane.settings import Settings
from hostplane.system.drivers import Drivers, build_drivers
from hostplane.system.ssh import SystemUsers
from hostplane.workers import JobRunner


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    readers: async_sessionmaker[AsyncSession]
    writers: async_sessionmaker[AsyncSession]
    keyring: Keyring
    clock: Clock
    """What every rule reads the time from (a ManualClock in tests)."""
    hashing: PasswordHashing
    throttle: Throttle
    credentials: CredentialCache
    drivers: Drivers
    """The drivers the services call (system/drivers.py): the real ones, or the fakes of system/fake.py in tests."""
    jobs: JobRunner
    """The in-process job worker (hostplane.jobs.service.JobService submits to it); closed with the runtime."""
    _write_lock: AbstractAsyncContextManager[object]
    """SQLite has one writer at a time: queue writers here, holding no pooled connection and not
    sleeping in SQLite's busy handler, instead of inside the database."""

    @property
    def system_users(self) -> SystemUsers:
        """Linux accounts of hosting users and their authorized_keys (a disabled driver when the settings say so)."""
        return self.drivers.system_users

    @system_users.setter
    def system_users(self, driver: SystemUsers) -> None:
        self.drivers.system_users = driver

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        async with transaction(self.readers) as db:
            yield db

    @asynccontextmanager
    async def writing(self, *, changes_user: int | None = None) -> AsyncIterator[AsyncSession]:
        """A write unit of work; keep slow work (hashing, subprocesses) outside it.

        `changes_user`: the unit changes that user, their sessions or their keys, so their cached credentials
        are dropped once it commits (or fails: dropping is always safe).
        """
        try:
            async with self._write_lock, transaction(self.writers) as db:
                yield db
        finally:
            if changes_user is not None:
                self.credentials.forget_user(changes_user)

    async def close(self) -> None:
        await self.jobs.close()
        await self.engine.dispose()


def build_runtime(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    clock: Clock | None = None,
    drivers: Drivers | None = None,
) -> Runtime:
    """`clock`: the machine's unless given; `drivers`: the real ones for these settings unless given (tests give
    a ManualClock and the fakes of system/fake.py)."""
    clock = clock or SystemClock()
    engine = engine or make_engine(settings.resolved_database_url)
    readers, writers = make_sessionmakers(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        readers=readers,
        writers=writers,
        keyring=Keyring.from_master(read_key_file(settings.resolved_secret_key_file)),
        clock=clock,
        hashing=PasswordHashing(settings),
        throttle=Throttle(settings),
        credentials=CredentialCache(settings.auth_cache_seconds, clock),
        drivers=drivers or build_drivers(settings),
        jobs=JobRunner(settings.jobs_concurrency),
        _write_lock=asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext(),
    )
