"""Hostplane's own services (embedded layout): nginx, Dovecot, the DKIM signer and Postfix, started from the
configs rendered under the state folder, health-checked, reloaded and stopped by their own pids.

`hostplane serve` builds a Supervisor from the runtime when `settings.embedded_services` is on: it applies the
desired state (mail lookup rows, system users; each service applies its own config as it starts), starts the
services in order, checks them every `services_check_seconds` (a dead one is restarted and logged), and stops
them all in reverse order on exit, each by its own pid, even when another one fails to stop. `hostplane doctor`
builds the same services and reads their state (pidfiles, ports, versions, config checks) from another process.

Every service runs as a daemon in its own process group (nginx, Dovecot, Postfix and OpenDKIM all call setsid),
so a master that died leaves its workers behind in a group named by its old pid: before a restart, and after a
stop, the supervisor ends whatever is left in that group, so no orphan keeps a port or a file.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

from hostplane.system import daemons
from hostplane.system.dovecot import DovecotDriver
from hostplane.system.files import any_present
from hostplane.system.mailconfig import ConfigRejected
from hostplane.system.mailpaths import MailPaths
from hostplane.system.nginx import NginxDriver, Site
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.system.postfix import TEMPLATES as POSTFIX_FILES
from hostplane.system.postfix import PostfixDriver
from hostplane.system.runner import CommandError, run

log = logging.getLogger("hostplane.system.supervisor")

Address = tuple[str, int]
DOVECOT_FILES = ("dovecot.conf", "dovecot-sql.conf.ext")
"""The files DovecotDriver.render() writes in its config folder."""


@runtime_checkable
class ManagedService(Protocol):
    """One daemon the panel runs itself."""

    name: str

    async def start(self) -> None:
        """Apply its configuration and start it if it is not running; returns once it serves."""

    async def stop(self) -> None:
        """Stop it by its own pid and wait until that pid is gone."""

    async def reload(self) -> None:
        """Make the running daemon load its current configuration."""

    async def healthy(self) -> bool:
        """Running and answering on its ports."""

    def pid(self) -> int | None:
        """The live pid of its master process, or None."""

    async def version(self) -> str: ...


async def _ports_open(addresses: Sequence[Address]) -> bool:
    for host, port in addresses:
        if not await asyncio.to_thread(daemons.port_open, host, port):
            return False
    return True


# --- the services ------------------------------------------------------------------------------------------------


@dataclass
class NginxService:
    """Hostplane's own nginx, started and reloaded with the sites `desired` reads from the database."""

    driver: NginxDriver
    desired: Callable[[], Awaitable[list[Site]]]
    name: str = "nginx"

    def ports(self) -> list[Address]:
        return [_split_listen(address) for address in self.driver.layout.listen]

    async def start(self) -> None:
        async with self.driver.exclusive():
            await self.driver.start(await self.desired())

    async def stop(self) -> None:
        await self.driver.stop()

    async def reload(self) -> None:
        """Render, check (nginx -t), swap and reload the running master."""
        async with self.driver.exclusive():
            await self.driver.apply(await self.desired())

    async def healthy(self) -> bool:
        return await self.driver.healthy()

    def applied(self) -> bool:
        """Whether a configuration was ever put live here (the live link, or a generation of it, exists)."""
        layout = self.driver.layout
        return any_present([layout.live_link]) or any_present(layout.generations.glob("*"))

    def pid(self) -> int | None:
        return self.driver.master_pid()

    async def version(self) -> str:
        return await self.driver.version()

    async def check_config(self) -> None:
        """`nginx -t` on the live generation; raises ConfigRejected with nginx's words."""
        layout = self.driver.layout
        if self.driver.live_generation() is None:
            raise ConfigRejected("nginx", "no live configuration (run `hostplane reconcile`)")
        conf = layout.live_link / layout.main_file
        argv = [str(layout.binary), "-t", "-q", "-p", f"{layout.base}/", "-e", str(layout.error_log), "-c", str(conf)]
        try:
            await run(argv, timeout=60)
        except CommandError as exc:
            raise ConfigRejected("nginx", exc.result.output if exc.result else str(exc)) from exc


class MailDaemonDriver(Protocol):
    """What a mail daemon's driver offers the service that runs it."""

    paths: MailPaths

    def pid(self) -> int | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def reload(self) -> None: ...

    async def apply(self) -> bool: ...

    async def version(self) -> str: ...


DriverT = TypeVar("DriverT", bound=MailDaemonDriver)


@dataclass
class MailDaemonService(abc.ABC, Generic[DriverT]):
    """A mail daemon run through its driver; a subclass names it and gives its ports and config check."""

    driver: DriverT

    @abc.abstractmethod
    def ports(self) -> list[Address]:
        """The loopback ports the daemon must answer on to count as healthy."""

    @abc.abstractmethod
    async def check_config(self) -> None:
        """Validate the live config with the daemon's own checker; raise ConfigRejected when it refuses it."""

    async def start(self) -> None:
        await asyncio.to_thread(self.driver.paths.make_reachable)
        await self.driver.start()

    async def stop(self) -> None:
        await self.driver.stop()

    async def reload(self) -> None:
        if not await self.driver.apply() and self.pid() is not None:  # apply() reloads only when files changed
            await self.driver.reload()

    async def healthy(self) -> bool:
        return self.pid() is not None and await _ports_open(self.ports())

    def pid(self) -> int | None:
        return self.driver.pid()

    async def version(self) -> str:
        return await self.driver.version()


@dataclass
class PostfixService(MailDaemonService[PostfixDriver]):
    name: str = "postfix"

    def ports(self) -> list[Address]:
        s = self.driver.settings
        return [(s.mail_bind_host, s.mail_smtp_port)]

    async def version(self) -> str:
        result = await run(["/usr/sbin/postconf", "-d", "-h", "mail_version"], timeout=30, check=False)
        return result.stdout.strip()

    def applied(self) -> bool:
        """Whether its configuration was ever written here (any of its files exists)."""
        return any_present(self.driver.config_dir / name for name in POSTFIX_FILES)

    async def check_config(self) -> None:
        """`postfix check` on the live config folder."""
        if not (self.driver.config_dir / "main.cf").exists():
            raise ConfigRejected("postfix", "no configuration (run `hostplane reconcile`)")
        await self.driver.validate(self.driver.config_dir)


@dataclass
class DovecotService(MailDaemonService[DovecotDriver]):
    name: str = "dovecot"

    def ports(self) -> list[Address]:
        s = self.driver.settings
        return [(s.mail_bind_host, s.mail_imap_port), (s.mail_bind_host, s.mail_lmtp_port)]

    def applied(self) -> bool:
        """Whether its configuration was ever written here (any of its files exists)."""
        folder = self.driver.paths.dovecot_config_dir
        return any_present(folder / name for name in DOVECOT_FILES)

    async def check_config(self) -> None:
        """`doveconf -n` on the live config file."""
        if not self.driver.config_file.exists():
            raise ConfigRejected("dovecot", "no configuration (run `hostplane reconcile`)")
        await self.driver.validate(self.driver.paths.dovecot_config_dir)


@dataclass
class SignerService(MailDaemonService[OpenDkimDriver]):
    """The DKIM signer (OpenDKIM milter); Postfix defers mail while it is down, so it starts before Postfix."""

    name: str = "opendkim"

    def ports(self) -> list[Address]:
        s = self.driver.settings
        return [(s.mail_bind_host, s.dkim_milter_port)]

    async def healthy(self) -> bool:
        return await self.driver.healthy()

    def applied(self) -> bool:
        """Whether its configuration was ever written here (its tables and keys are the desired state's)."""
        return self.driver.config_applied()

    async def check_config(self) -> None:
        """`opendkim -n` on the live config file."""
        if not self.driver.config_file.exists():
            raise ConfigRejected("opendkim", "no configuration (run `hostplane reconcile`)")
        await asyncio.to_thread(self.driver.validate, self.driver.config_dir)


# --- status ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortState:
    host: str
    port: int
    open: bool

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port} {'open' if self.open else 'closed'}"


@dataclass(frozen=True)
class ServiceStatus:
    """What `hostplane doctor` prints for one service."""

    name: str
    pid: int | None
    healthy: bool
    version: str
    config_error: str | None
    """None: the validator accepts the live configuration."""
    ports: tuple[PortState, ...]

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def config_valid(self) -> bool:
        return self.config_error is None

    @property
    def ok(self) -> bool:
        return self.running and self.healthy and self.config_valid


async def _config_error(service: ManagedService) -> str | None:
    check: Callable[[], Awaitable[object]] | None = getattr(service, "check_config", None)
    if check is None:
        return None
    try:
        await check()
    except ConfigRejected as exc:
        return exc.output.strip() or str(exc)
    except (CommandError, OSError, RuntimeError) as exc:
        return str(exc)
    return None


async def inspect(service: ManagedService) -> ServiceStatus:
    """The state of one service as seen from its files and ports (works from any process)."""
    try:
        version = await service.version()
    except (CommandError, OSError) as exc:
        version = f"unknown ({exc})"
    ports_of: Callable[[], list[Address]] | None = getattr(service, "ports", None)
    addresses = ports_of() if ports_of is not None else []
    states = tuple(
        [PortState(host, port, await asyncio.to_thread(daemons.port_open, host, port)) for host, port in addresses]
    )
    return ServiceStatus(
        name=service.name,
        pid=service.pid(),
        healthy=await service.healthy(),
        version=version,
        config_error=await _config_error(service),
        ports=states,
    )


# --- the supervisor ----------------------------------------------------------------------------------------------


@dataclass
class Supervisor:
    """Starts its services in order, watches them, stops them in reverse order."""

    services: list[ManagedService]
    check_seconds: float = 10.0
    prepare: Callable[[], Awaitable[object]] | None = None
    """Run before the first start: applies the desired state the services read (mail lookups, system users)."""
    restarts: dict[str, int] = field(default_factory=dict)
    _groups: dict[str, int] = field(default_factory=dict)
    """The last pid seen for each service: its process group, swept of leftovers after it died or stopped."""
    _watcher: asyncio.Task[None] | None = None

    def service(self, name: str) -> ManagedService:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    async def start(self) -> None:
        """Apply the desired state, then start every service; if one fails, stop those already started and
        raise."""
        if self.prepare is not None:
            await self.prepare()
        started: list[ManagedService] = []
        try:
            for service in self.services:
                begin = time.monotonic()
                await service.start()
                started.append(service)
                self._remember(service)
                log.info("%s started (pid %s) in %.2f s", service.name, service.pid(), time.monotonic() - begin)
        except BaseException:
            log.error("starting the services failed; stopping the ones already started")
            await self._stop_all(list(reversed(started)))
            raise

    def watch(self) -> asyncio.Task[None]:
        """Check the services every `check_seconds` in the background until stop()."""
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="hostplane-supervisor")
        return self._watcher

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except Exception:  # a failed round is logged; the next one tries again
                log.exception("the service health check failed")

    async def check(self) -> list[str]:
        """One round: restart every service that is not healthy. Returns the names restarted."""
        restarted: list[str] = []
        for service in self.services:
            if await service.healthy():
                self._remember(service)
                continue
            pid = service.pid()
            log.warning("%s is not healthy (pid %s); restarting it", service.name, pid)
            try:
                await self._restart(service)
            except Exception:
                log.exception("%s could not be restarted", service.name)
                continue
            self.restarts[service.name] = self.restarts.get(service.name, 0) + 1
            restarted.append(service.name)
            log.warning("%s restarted (pid %s)", service.name, service.pid())
        return restarted

    async def _restart(self, service: ManagedService) -> None:
        if service.pid() is not None:
            await service.stop()
        await self._sweep(service)
        await service.start()
        self._remember(service)

    async def reload(self) -> None:
        """Make every running service load its current configuration."""
        for service in self.services:
            if service.pid() is not None:
                await service.reload()

    async def stop(self) -> list[str]:
        """Stop the watcher, then every service in reverse order by its own pid, each even when another failed.
        Returns the names that could not be stopped (logged)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        return await self._stop_all(list(reversed(self.services)))

    async def _stop_all(self, services: list[ManagedService]) -> list[str]:
        failed: list[str] = []
        for service in services:
            self._remember(service)
            try:
                await service.stop()
                await self._sweep(service)
            except Exception:
                log.exception("%s could not be stopped", service.name)
                failed.append(service.name)
                continue
            if service.pid() is not None:
                log.error("%s is still running after stop", service.name)
                failed.append(service.name)
            else:
                log.info("%s stopped", service.name)
        return failed

    async def status(self) -> list[ServiceStatus]:
        return [await inspect(service) for service in self.services]

    def _remember(self, service: ManagedService) -> None:
        pid = service.pid()
        if pid is not None:
            self._groups[service.name] = pid

    async def _sweep(self, service: ManagedService, timeout: float = 10.0) -> None:
        """End what is left of the service's last process group (workers of a master that died)."""
        group = self._groups.get(service.name)
        if group is None or group == os.getpgrp():
            return
        await asyncio.to_thread(end_group, group, timeout)


def group_members(pgid: int) -> set[int]:
    """Live pids whose process group is `pgid` (from /proc)."""
    return {
        pid
        for pid, fields in daemons.process_stats()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z"
    }


def end_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGTERM every member of a process group, then SIGKILL whatever is still there after `timeout`."""
    members = group_members(pgid)
    if not members:
        return
    log.warning("ending %d leftover process(es) of process group %d", len(members), pgid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5.0)
        while members and time.monotonic() < deadline:
            time.sleep(0.05)
            members = group_members(pgid)
        if not members:
            return


def _split_listen(address: str) -> Address:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)
