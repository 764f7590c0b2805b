"""Fixtures of the fuzz run: the world (accounts, credentials, objects; tests/fuzz/world.py) on the database of the
test (SQLite, and PostgreSQL when configured), driven from its own event loop (hypothesis draws synchronously)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import pytest

from hostplane.runtime import build_runtime
from hostplane.settings import Settings
from tests.fuzz.world import World, settings_overrides

EXAMPLES_VARIABLE = "HOSTPLANE_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 8
SEED_VARIABLE = "HOSTPLANE_FUZZ_SEED"
DEFAULT_SEED = 8


def examples_per_route() -> int:
    """Generated requests per target (per route and port): HOSTPLANE_FUZZ_EXAMPLES, default 8."""
    return int(os.environ.get(EXAMPLES_VARIABLE, DEFAULT_EXAMPLES))


def base_seed() -> int:
    return int(os.environ.get(SEED_VARIABLE, DEFAULT_SEED))


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(**settings_overrides())


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture
def world(loop: asyncio.Runner, settings: Settings) -> Iterator[World]:
    built = World(build_runtime(settings))
    try:
        loop.run(built.bootstrap())
        yield built
    finally:
        loop.run(built.close())
