"""The supervisor runs the panel's own nginx, Dovecot, OpenDKIM and Postfix for real, on free loopback ports under a
temporary state folder: it starts them, `hostplane doctor` sees them healthy, the health check brings back one that
was killed, and stop leaves no process of any of them alive."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest

from hostplane.errors import ServiceFailed
from hostplane.hosting.state import build_supervisor
from hostplane.runtime import Runtime
from hostplane.system import daemons
from hostplane.system.supervisor import Supervisor, group_members
from tests.integration.supervisor.conftest import flat, hostplane

SERVICES = ["dovecot", "opendkim", "postfix", "nginx"]
NOTHING_LEFT: dict[str, set[int]] = {name: set() for name in SERVICES}


def processes_of(supervisor: Supervisor) -> dict[str, set[int]]:
    """Every live process of each service: its master and the master's process group (workers, children)."""
    found: dict[str, set[int]] = {}
    for service in supervisor.services:
        pid = service.pid()
        assert pid is not None, f"{service.name} is not running"
        found[service.name] = {pid} | group_members(pid)
    return found


def alive(pid: int) -> bool:
    """Running: a zombie (dead, waiting for init to reap it) holds no port and no file."""
    return daemons.pid_alive(pid)


async def test_the_supervisor_starts_every_service_in_order_and_doctor_reports_them_healthy_with_versions(
    supervisor: Supervisor, panel_runtime: Runtime
) -> None:
    assert [service.name for service in supervisor.services] == SERVICES
    for status in await supervisor.status():
        assert status.ok, status
        assert all(port.open for port in status.ports), status
    result = await asyncio.to_thread(hostplane, panel_runtime.settings, "doctor")
    assert result.exit_code == 0, result.output
    output = flat(result.output)
    assert "All services are running, healthy and validly configured." in output
    for name, version in (("nginx", "nginx/1."), ("postfix", "3."), ("dovecot", "2."), ("opendkim", "2.")):
        row = next(line for line in result.output.splitlines() if f" {name} " in line)
        assert "running" in row and "yes" in row and "valid" in row and version in row, row
    settings = panel_runtime.settings
    for port in (settings.nginx_http_port, settings.mail_smtp_port, settings.mail_imap_port, settings.dkim_milter_port):
        assert f"127.0.0.1:{port} open" in output


async def test_a_killed_daemon_is_restarted_by_the_periodic_health_check_and_its_leftovers_are_ended(
    supervisor: Supervisor,
) -> None:
    before = processes_of(supervisor)
    masters = {service.name: service.pid() for service in supervisor.services}
    supervisor.watch()  # every 0.5 s in these settings
    for service in supervisor.services:
        pid = masters[service.name]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # a crash: no chance to stop its workers
    deadline = time.monotonic() + 60
    while True:
        statuses = await supervisor.status()
        if all(status.ok and status.pid != masters[status.name] for status in statuses):
            break
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.2)
    assert supervisor.restarts == dict.fromkeys(SERVICES, 1)
    leftovers = {name: {pid for pid in pids if alive(pid)} for name, pids in before.items()}
    assert leftovers == NOTHING_LEFT  # no orphaned worker keeps a port


async def test_stop_leaves_no_process_of_any_service_alive_and_doctor_then_reports_them_stopped(
    supervisor: Supervisor, panel_runtime: Runtime
) -> None:
    before = processes_of(supervisor)
    assert await supervisor.stop() == []
    still = {name: {pid for pid in pids if alive(pid)} for name, pids in before.items()}
    assert still == NOTHING_LEFT
    assert all(service.pid() is None for service in supervisor.services)
    result = await asyncio.to_thread(hostplane, panel_runtime.settings, "doctor")
    assert result.exit_code == 1
    assert "Not well: dovecot, opendkim, postfix, nginx" in flat(result.output)
    assert flat(result.output).count("stopped") == 4


async def test_when_a_service_cannot_start_the_ones_already_started_are_stopped_and_the_error_surfaces(
    panel_runtime: Runtime,
) -> None:
    supervisor = build_supervisor(panel_runtime)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", panel_runtime.settings.nginx_http_port))  # nginx, started last, cannot listen
    blocker.listen()
    try:
        with pytest.raises(ServiceFailed):
            await supervisor.start()
        running = [service.name for service in supervisor.services if service.pid() is not None]
    finally:
        blocker.close()
        await supervisor.stop()  # cleans up after a failed expectation
    assert running == []
