"""A real nginx for each test: the project's rendered embedded configuration, on a free loopback port, under the
test's state folder; stopped by its own pid at the end, even when the test fails."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hostplane.domains.service import DomainService
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.nginx import NginxDriver


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(nginx_http_port=free_port())


@pytest.fixture
async def nginx(runtime: Runtime) -> AsyncIterator[NginxDriver]:
    driver = NginxDriver.from_settings(runtime.settings)
    try:
        await driver.start(await DomainService(runtime, driver).sites())
        yield driver
    finally:
        pid = driver.master_pid()
        await driver.stop()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Any:
    return await make_account("bob")
