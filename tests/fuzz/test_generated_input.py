"""Issue 8: generated input against every route of every port, in process, authenticated and not; the bar is no
answer with a 5xx status, no Python traceback in a body, no exception escaping an app and no error logged with a
traceback. The native API is generated from each port's OpenAPI document (schemathesis, positive and negative), the
dialects from hand-written strategies of their parameters (tests/fuzz/targets.py).

The seed is fixed (HOSTPLANE_FUZZ_SEED, default 8) and so are the requests; HOSTPLANE_FUZZ_EXAMPLES (default 8)
sets the requests per target. bench/fuzz.py runs the same with a larger budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Route

from hostplane.keys import new_key_file_content
from hostplane.runtime import build_runtime
from hostplane.settings import Settings
from tests.fuzz.conftest import base_seed, examples_per_route
from tests.fuzz.request import PORTS
from tests.fuzz.run import Runner, seed_of
from tests.fuzz.targets import all_targets, coverage
from tests.fuzz.world import World, settings_overrides

pytestmark = pytest.mark.fuzz


def routes_of(world: World) -> dict[str, set[tuple[str, str]]]:
    """(method, path template) of every route each port's app has."""
    found: dict[str, set[tuple[str, str]]] = {}
    for port in PORTS:
        routes = found.setdefault(port, set())
        for context in iter_route_contexts(world.apps[port].routes):
            assert isinstance(context.original_route, Route), context.original_route
            routes.update((method, context.path) for method in context.methods or ())
    return found


@pytest.fixture
def apps_only(tmp_path: Path) -> Iterator[World]:
    """The apps of every port, without accounts or objects (and without a database: nothing is sent)."""
    (tmp_path / "secret.key").write_bytes(new_key_file_content())
    runtime = build_runtime(Settings(state_dir=tmp_path, manage_system_users=False, **settings_overrides()))
    yield World(runtime)
    asyncio.run(runtime.close())


def test_every_route_of_every_port_has_a_target(apps_only: World) -> None:
    covered = coverage(all_targets(apps_only))
    for port, routes in routes_of(apps_only).items():
        missing = sorted(routes - covered[port])
        assert not missing, f"routes of the {port} port without a fuzz target: {missing}"
        stale = sorted(covered[port] - routes)
        assert not stale, f"fuzz targets of the {port} port for routes it does not have: {stale}"


def test_generated_requests_never_get_a_server_error(loop: asyncio.Runner, world: World) -> None:
    examples = examples_per_route()
    targets = all_targets(world)
    runner = Runner(loop, world)
    try:
        for target in targets:
            runner.run_target(target, examples, seed_of(base_seed(), target))
    finally:
        runner.close()
    stats = runner.stats
    report = "\n\n".join(str(failure) for failure in stats.failures)
    assert stats.failure_count == 0, f"{stats.failure_count} failures in {stats.requests} requests:\n\n{report}"
    assert stats.server_errors == 0
    assert {port for port, _ in stats.sent} == set(PORTS)
    assert stats.requests >= len(targets) * examples // 2, "most generated requests were not sent"
