"""Driving the targets: hypothesis draws each target's requests (a fixed seed per target, no shrinking, no example
database), the world sends them, and every answer is judged. A failure is any answer with a 5xx status, a body with
a Python traceback in it, an exception that escaped the app, a hang, or an error logged with a traceback while the
request ran (a dialect that hides an internal error behind its own envelope still logs it).

Used by tests/fuzz/test_generated_input.py (short budget) and bench/fuzz.py (long runs, figures).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzz.asgi import Answer, Wire
from tests.fuzz.request import Request, describe
from tests.fuzz.targets import Target
from tests.fuzz.world import World

MAX_REPORTED = 40


@dataclass
class Failure:
    target: str
    port: str
    request: str
    status: int
    detail: str

    def __str__(self) -> str:
        return f"[{self.port}] {self.target} -> {self.status}\n  {self.request}\n  {self.detail}"


class LoggedErrors(logging.Handler):
    """Errors logged with a traceback by Hostplane while a request runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)

    def take(self) -> list[str]:
        taken = [f"{r.name}: {r.getMessage()}\n{self.format(r)}" for r in self.records]
        self.records.clear()
        return taken


@dataclass
class Stats:
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Requests per (port, target name)."""
    succeeded: Counter[tuple[str, str]] = field(default_factory=Counter)
    """2xx answers per (port, target name): how often the requests got past validation and authorization."""
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    failure_count: int = 0
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.sent.values())

    @property
    def server_errors(self) -> int:
        return sum(n for counter in self.statuses.values() for status, n in counter.items() if status >= 500)

    def record(self, target: Target, answer: Answer) -> None:
        self.sent[(target.port, target.name)] += 1
        if 200 <= answer.status < 300:
            self.succeeded[(target.port, target.name)] += 1
        self.statuses.setdefault(target.port, Counter())[answer.status] += 1

    def fail(self, failure: Failure) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_REPORTED:
            self.failures.append(failure)


def judge(target: Target, wire: Wire, answer: Answer, logged: list[str]) -> Failure | None:
    problems = []
    if answer.status >= 500:
        problems.append(f"status {answer.status}: {answer.body[:300].decode('utf-8', 'backslashreplace')}")
    if answer.has_traceback:
        problems.append("the body holds a Python traceback")
    if answer.error:
        problems.append(f"error: {answer.error[-3000:]}")
    problems += [f"logged: {entry[:200]} ... {entry[-1200:]}" for entry in logged]
    if not problems:
        return None
    return Failure(target.name, target.port, describe(wire), answer.status, "\n  ".join(problems))


class Runner:
    """One event loop, one world; `run` drives targets one after another."""

    def __init__(self, loop: asyncio.Runner, world: World, stats: Stats | None = None) -> None:
        self.loop = loop
        self.world = world
        self.stats = stats or Stats()
        self.logged = LoggedErrors()
        logging.getLogger("hostplane").addHandler(self.logged)

    def close(self) -> None:
        logging.getLogger("hostplane").removeHandler(self.logged)

    def run_target(self, target: Target, examples: int, seed_value: int) -> None:
        started = time.perf_counter()
        world, stats = self.world, self.stats

        async def one(request: Request) -> None:
            wire, answer = await world.send(request)
            if target.writes and 200 <= answer.status < 300:
                world.changed = True
            stats.record(target, answer)
            failure = judge(target, wire, answer, self.logged.take())
            if failure is not None:
                stats.fail(failure)

        @seed(seed_value)
        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            derandomize=False,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(target.strategy)
        def drive(request: Request) -> None:
            self.loop.run(one(request))

        drive()
        self.loop.run(world.settle())
        self.logged.take()
        stats.seconds += time.perf_counter() - started


def seed_of(base: int, target: Target) -> int:
    """A stable seed per target: the same requests in every run with the same base seed."""
    text = f"{base}:{target.port}:{target.name}"
    value = 0
    for char in text:
        value = (value * 131 + ord(char)) % (2**61 - 1)
    return value
