"""Helpers to supervise daemons we start ourselves: pidfiles, stopping by pid, waiting for a port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path


def read_pid(pidfile: Path) -> int | None:
    """The pid in a pidfile (Postfix pads it with spaces), or None if absent or not a live process."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    """Whether the process runs; a zombie (dead, not yet reaped: a daemon's parent is init, which may reap late)
    counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return True  # no /proc: trust kill(0)
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


def process_stats() -> Iterator[tuple[int, list[bytes]]]:
    """Each process's pid and the fields of its /proc/<pid>/stat after `(comm)`: state, ppid, pgrp, ...

    comm may hold spaces and parentheses, so the fields are split after the last ')'."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        yield int(entry.name), stat[stat.rfind(b")") + 2 :].split()


async def stop_pid(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM, wait up to `timeout` for the process to go, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


async def wait_for_port(host: str, port: int, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(port_open, host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:g} s")
        await asyncio.sleep(0.05)
