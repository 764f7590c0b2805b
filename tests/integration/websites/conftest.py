"""A real nginx for each test: the project's rendered embedded configuration, on a free loopback port, under the
test's state folder; stopped by its own pid at the end, even when the test fails."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.nginx import NginxDriver
from tests.integration.nginx_fixture import running_nginx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], nginx_served: dict[str, Path]) -> Settings:
    return settings_factory(nginx_http_port=free_port(), **nginx_served)


@pytest.fixture
async def nginx(runtime: Runtime) -> AsyncIterator[NginxDriver]:
    async with running_nginx(runtime) as driver:
        yield driver


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Any:
    return await make_account("bob")
