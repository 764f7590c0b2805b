"""The supervisor's rules, with recording services (the real daemons are in tests/integration/supervisor): start in
order after the desired state, undo a failed start, restart only what is unhealthy, stop in reverse order even when
one stop fails; and the sweep of a dead master's leftover processes, with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hostplane.settings import Settings
from hostplane.system import daemons
from hostplane.system.dovecot import DovecotDriver
from hostplane.system.mailconfig import ConfigRejected
from hostplane.system.mailpaths import MailPaths
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.system.postfix import PostfixDriver
from hostplane.system.supervisor import (
    DovecotService,
    ManagedService,
    PostfixService,
    SignerService,
    Supervisor,
    end_group,
    group_members,
    inspect,
)


@dataclass
class Recorder:
    events: list[str] = field(default_factory=list)


@dataclass
class FakeService:
    name: str
    log: Recorder
    running: bool = False
    fail_start: bool = False
    fail_stop: bool = False
    broken_config: str | None = None
    starts: int = 0

    async def start(self) -> None:
        self.log.events.append(f"start {self.name}")
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.running = True
        self.starts += 1

    async def stop(self) -> None:
        self.log.events.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError(f"{self.name} cannot stop")
        self.running = False

    async def reload(self) -> None:
        self.log.events.append(f"reload {self.name}")

    async def healthy(self) -> bool:
        return self.running

    def pid(self) -> int | None:
        return 4_000_000 + len(self.name) if self.running else None  # above pid_max: never a real process

    async def version(self) -> str:
        return "1.0"

    def ports(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", 1)]

    async def check_config(self) -> None:
        if self.broken_config:
            raise ConfigRejected(self.name, self.broken_config)


def services(log: Recorder, *names: str) -> list[FakeService]:
    return [FakeService(name, log) for name in names]


def test_the_services_and_the_fakes_satisfy_the_managed_service_protocol(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    paths = MailPaths.from_settings(settings)
    for service in (
        PostfixService(PostfixDriver(settings, paths)),
        DovecotService(DovecotDriver(settings, paths)),
        SignerService(OpenDkimDriver(settings, paths)),
        FakeService("x", Recorder()),
    ):
        assert isinstance(service, ManagedService), service


async def test_start_applies_the_desired_state_first_then_starts_the_services_in_order() -> None:
    log = Recorder()

    async def prepare() -> None:
        log.events.append("desired state")

    supervisor = Supervisor(list(services(log, "dovecot", "opendkim", "postfix", "nginx")), prepare=prepare)
    await supervisor.start()
    assert log.events == ["desired state", "start dovecot", "start opendkim", "start postfix", "start nginx"]


async def test_a_failed_start_stops_the_services_already_started_in_reverse_order_and_raises() -> None:
    log = Recorder()
    fakes = services(log, "dovecot", "opendkim", "postfix", "nginx")
    fakes[2].fail_start = True
    supervisor = Supervisor(list(fakes))
    with pytest.raises(RuntimeError, match="postfix cannot start"):
        await supervisor.start()
    assert log.events[3:] == ["stop opendkim", "stop dovecot"]
    assert not any(fake.running for fake in fakes)


async def test_stop_goes_in_reverse_order_and_goes_on_past_a_service_that_fails_to_stop() -> None:
    log = Recorder()
    fakes = services(log, "dovecot", "opendkim", "postfix", "nginx")
    supervisor = Supervisor(list(fakes))
    await supervisor.start()
    fakes[2].fail_stop = True
    log.events.clear()
    assert await supervisor.stop() == ["postfix"]
    assert log.events == ["stop nginx", "stop postfix", "stop opendkim", "stop dovecot"]
    assert [fake.running for fake in fakes] == [False, False, True, False]


async def test_a_health_check_restarts_only_the_services_that_are_not_healthy_and_counts_it() -> None:
    log = Recorder()
    fakes = services(log, "dovecot", "postfix", "nginx")
    supervisor = Supervisor(list(fakes))
    await supervisor.start()
    fakes[1].running = False  # died
    log.events.clear()
    assert await supervisor.check() == ["postfix"]
    assert log.events == ["start postfix"]
    assert supervisor.restarts == {"postfix": 1}
    assert await supervisor.check() == []


async def test_the_watcher_checks_periodically_until_stop() -> None:
    log = Recorder()
    fakes = services(log, "dovecot")
    supervisor = Supervisor(list(fakes), check_seconds=0.01)
    await supervisor.start()
    watcher = supervisor.watch()
    fakes[0].running = False
    for _ in range(200):
        if fakes[0].starts == 2:
            break
        await asyncio.sleep(0.01)
    assert fakes[0].starts == 2 and fakes[0].running
    await supervisor.stop()
    assert watcher.done()


async def test_inspect_reports_a_configuration_the_validator_refuses() -> None:
    fake = FakeService("postfix", Recorder(), running=True, broken_config="/x/main.cf, line 3: bad")
    status = await inspect(fake)
    assert status.running and status.healthy and not status.config_valid
    assert status.config_error == "/x/main.cf, line 3: bad"
    assert not status.ok
    assert str(status.ports[0]) == "127.0.0.1:1 closed"


def test_end_group_ends_the_workers_a_dead_master_left_behind() -> None:
    # A "master" in its own session whose "worker" child outlives it, as nginx workers do after a SIGKILL.
    worker = "import time; time.sleep(60)"
    script = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(60)"
    master = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(group_members(master.pid)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        workers = group_members(master.pid) - {master.pid}
        os.kill(master.pid, signal.SIGKILL)
        master.wait()
        assert all(daemons.pid_alive(pid) for pid in workers)
        end_group(master.pid, timeout=5)
        assert group_members(master.pid) == set()
        assert not any(daemons.pid_alive(pid) for pid in workers)
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
        end_group(master.pid, timeout=1)


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while daemons.pid_alive(child.pid):  # exited but not reaped yet: a zombie
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert child.poll() == 0
