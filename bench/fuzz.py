#!/usr/bin/env python3
"""Generated-input run against every route of every port (issue 8), in process (ASGI, no network): the long twin of
tests/fuzz/test_generated_input.py.

Builds a throw-away state folder and database (SQLite, or --database-url for PostgreSQL), the fuzz world (accounts,
credentials, a website with a certificate, a mail domain with a mailbox, an alias and DKIM, sessions on every port;
see tests/fuzz/world.py) and the targets (tests/fuzz/targets.py), then sends about --requests requests spread evenly
over the targets, and prints: requests per port and route, the status histogram per port, the number of 5xx answers
and of failures (which must be 0), the failures themselves, and the time.

Run: `.venv/bin/python bench/fuzz.py --requests 20000` (about 8 minutes on 2 cores); `--seed` changes the requests,
`--only TEXT` keeps the targets whose name contains TEXT. The exit status is 1 when any failure was found.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostplane import migrate
from hostplane.keys import new_key_file_content
from hostplane.runtime import build_runtime
from hostplane.settings import Settings
from tests.fuzz.run import Runner, Stats, seed_of
from tests.fuzz.targets import all_targets
from tests.fuzz.world import World, settings_overrides


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000, help="total budget of generated requests")
    parser.add_argument("--seed", type=int, default=8, help="base seed (each target derives its own from it)")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--only", default="", help="only the targets whose name contains this")
    parser.add_argument("--show", type=int, default=20, help="failures to print in full")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="hostplane-fuzz-") as folder:
        state = Path(folder)
        (state / "secret.key").write_bytes(new_key_file_content())
        url = args.database_url or f"sqlite+aiosqlite:///{state / 'hostplane.db'}"
        migrate.upgrade(url)
        settings = Settings(
            state_dir=state,
            database_url=url,
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            manage_system_users=False,
            **settings_overrides(),
        )
        with asyncio.Runner() as loop:
            started = time.perf_counter()
            print(f"load average at the start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
            world = World(build_runtime(settings))
            loop.run(world.bootstrap())
            targets = [t for t in all_targets(world) if args.only in t.name]
            examples = max(1, math.ceil(args.requests / max(1, len(targets))))
            print(f"{len(targets)} targets, {examples} examples each, seed {args.seed}, {url.split(':')[0]}")
            runner = Runner(loop, world, Stats())
            try:
                for number, target in enumerate(targets, 1):
                    runner.run_target(target, examples, seed_of(args.seed, target))
                    if number % 20 == 0:
                        print(
                            f"  {number}/{len(targets)} targets, {runner.stats.requests} requests, "
                            f"{runner.stats.failure_count} failures, {time.perf_counter() - started:.0f} s",
                            flush=True,
                        )
            finally:
                runner.close()
                loop.run(world.close())
            report(runner.stats, world, time.perf_counter() - started, args.show)
            return 1 if runner.stats.failure_count else 0


def report(stats: Stats, world: World, seconds: float, show: int) -> None:
    print("\nrequests (and 2xx answers) per port and route:")
    for port in ("user", "admin", "webmail"):
        routes = sorted((name, n) for (p, name), n in stats.sent.items() if p == port)
        print(f"  {port} port: {sum(n for _, n in routes)} requests over {len(routes)} targets")
        for name, n in routes:
            print(f"    {n:6d}  {stats.succeeded[(port, name)]:6d} 2xx  {name}")
    print("\nstatus histogram per port:")
    total: Counter[int] = Counter()
    for port, counter in sorted(stats.statuses.items()):
        total.update(counter)
        print(f"  {port:8s} " + "  ".join(f"{status}:{n}" for status, n in sorted(counter.items())))
    print(f"  {'all':8s} " + "  ".join(f"{status}:{n}" for status, n in sorted(total.items())))
    print(f"\nrequests sent:        {stats.requests}")
    print(f"5xx answers:          {stats.server_errors}   (must be 0)")
    print(f"failures:             {stats.failure_count}   (5xx, tracebacks, escaped exceptions, hangs, logged errors)")
    print(f"world checks/repairs: {world.checks}/{world.repairs}")
    cpu = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )
    print(
        f"time:                 {seconds:.1f} s wall ({stats.requests / max(seconds, 1e-9):.0f} requests/s), "
        f"{cpu:.1f} s CPU (this process and the checks it ran: nginx -t, opendkim -n...)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (a shared machine stretches the wall time, not the CPU)")
    for failure in stats.failures[:show]:
        print(f"\n{failure}")


if __name__ == "__main__":
    raise SystemExit(main())
