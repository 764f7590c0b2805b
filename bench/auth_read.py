#!/usr/bin/env python3
"""Benchmark: what authentication costs an API read, and whether logins disturb the readers.

Starts, in one run and on free loopback ports:
  * `hostplane serve` (one process = one worker, plain HTTP, the default argon2 parameters of Settings),
  * a bare Starlette JSON endpoint served by uvicorn exactly as `hostplane serve` serves its apps
    (same uvicorn.Config, same event loop set-up, log level warning, one process) as the baseline,
then measures with `wrk` (32 connections, 2 threads, --latency) the bare endpoint, `GET /api/v1/account`
with a session JWT and the same with an API key, and finally the p99 of authenticated reads unloaded and
while another client logs in 20 times a second (then, as an event-loop probe, the same on /api/v1/health).

Targets (issue 2): req/s of each authenticated read at least 0.5x the bare endpoint; p99 of reads under the
login load at most 2x the unloaded p99.

Run: `make bench` (installs Debian's wrk if needed) or `.venv/bin/python bench/auth_read.py [--duration 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop

ACCOUNT_PATH = "/api/v1/account"
HEALTH_PATH = "/api/v1/health"
LOGIN_PATH = "/api/v1/auth/login"
API_KEYS_PATH = "/api/v1/account/api-keys"
BENCH_USER = "bench"
BENCH_EMAIL = "bench@example.com"
WRK_CONNECTIONS = 32
WRK_THREADS = 2
RATIO_TARGET = 0.5
LOGIN_P99_FACTOR_TARGET = 2.0
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


# --- the baseline server (run in a child process of this script) ----------------------------------------


def serve_baseline(port: int) -> None:
    """A bare Starlette JSON endpoint, served the way `hostplane serve` serves its apps.

    The uvicorn.Config comes from hostplane.server itself, so the HTTP implementation (httptools when
    installed), the loop set-up (uvloop, as in `hostplane serve`), proxy_headers, server_header and
    lifespan are the same for both sides of the comparison; only the app differs.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from hostplane import server
    from hostplane.settings import Settings

    async def ok(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/", ok)])
    other = port + 1 if port < 65535 else port - 1  # Settings wants two distinct ports; only `port` is served
    settings = Settings(plain_http=True, bind_host="127.0.0.1", user_port=port, admin_port=other)
    config = server._config(settings, app, port, "warning")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(server._Server(config).serve())


# --- processes and ports ---------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all sockets are held open until every port is chosen)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Children:
    """Every process this script starts; stop() ends them all (terminate, wait, kill on timeout)."""

    started: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Child:
        log = cwd / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        child = Child(name, process, log)
        self.started.append(child)
        return child

    def stop(self) -> None:
        for child in self.started:
            if child.process.poll() is None:
                child.process.terminate()
        for child in self.started:
            try:
                child.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.started.clear()


def wait_until_ready(child: Child, url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {url} within {STARTUP_TIMEOUT:.0f} s:\n{child.tail()}")


def hostplane_command() -> str:
    beside = Path(sys.executable).with_name("hostplane")
    found = str(beside) if beside.exists() else shutil.which("hostplane")
    if found is None:
        raise RuntimeError("the `hostplane` command is not installed (run `make venv`)")
    return found


def run_cli(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    """Run a CLI command; its output (which holds the generated admin password) is not shown unless it fails."""
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:3])} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


# --- wrk -------------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50: float
    p99: float
    requests: int
    bad_responses: int
    socket_errors: str


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not parse wrk's output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:\s+(.+)", output)
    return WrkResult(
        requests_per_second=float(rps[1]),
        p50=_seconds(p50[1]),
        p99=_seconds(p99[1]),
        requests=int(total[1]),
        bad_responses=int(bad[1]) if bad else 0,
        socket_errors=errors[1].strip() if errors else "",
    )


def run_wrk(url: str, seconds: float, headers: dict[str, str]) -> WrkResult:
    argv = [
        "wrk",
        f"--threads={WRK_THREADS}",
        f"--connections={WRK_CONNECTIONS}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        "--latency",
    ]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    result = subprocess.run([*argv, url], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return parse_wrk(result.stdout)


# --- fixed-rate clients for the login-load test ----------------------------------------------------------
#
# Why not wrk here: wrk is closed-loop (each connection sends its next request as soon as the previous
# answer arrives), so even with 4 connections it drives one worker to 100 % CPU, and the p99 then measures
# queueing behind our own reads rather than what the logins do to them. wrk2 (constant rate) is not in
# Debian. So the reads are sent open-loop at a fixed rate well below capacity (default 100/s, a small
# fraction of what one worker serves), each latency measured from the moment the request was *scheduled*
# (not when the client got round to sending it), which also avoids coordinated omission: a stalled event
# loop shows up in full in the percentiles instead of merely delaying the next request. Both phases use the
# same client, so its own overhead (httpx, ~0.5 ms) is in both p99s alike.


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class ReadStats:
    latencies: list[float]
    failures: int
    seconds: float

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)


async def fixed_rate_reads(url: str, headers: dict[str, str], rate: float, seconds: float) -> ReadStats:
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0) as client:

        async def one(scheduled: float) -> None:
            nonlocal failures
            try:
                response = await client.get(url)
            except httpx.HTTPError:
                failures += 1
                return
            if response.status_code == 200:
                latencies.append(time.monotonic() - scheduled)
            else:
                failures += 1

        count = int(rate * seconds)
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic() + 0.05
        for index in range(count):
            scheduled = start + index / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
    if not latencies:
        raise RuntimeError("no read succeeded")
    return ReadStats(latencies, failures, seconds)


@dataclass
class LoginLoad:
    """Logs in at a steady rate (open-loop, in its own thread and event loop) until stopped."""

    url: str
    username: str
    password: str
    rate: float
    successes: list[float] = field(default_factory=list)  # completion times (time.monotonic)
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="login-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        body = {"username": self.username, "password": self.password}
        async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

            async def one() -> None:
                began = time.monotonic()
                try:
                    response = await client.post(self.url, json=body)
                except httpx.HTTPError as exc:
                    self.failures[type(exc).__name__] = self.failures.get(type(exc).__name__, 0) + 1
                    return
                if response.status_code == 200 and "token" in response.json():
                    done = time.monotonic()
                    self.successes.append(done)
                    self.latencies.append(done - began)
                else:
                    key = f"HTTP {response.status_code}"
                    self.failures[key] = self.failures.get(key, 0) + 1

            tasks: list[asyncio.Task[None]] = []
            start = time.monotonic()
            while not self._stop.is_set():
                scheduled = start + self.sent / self.rate
                delay = scheduled - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one()))
                self.sent += 1
            await asyncio.gather(*tasks)

    def rate_between(self, begin: float, end: float) -> float:
        return sum(1 for done in self.successes if begin <= done <= end) / (end - begin)


# --- the benchmark ---------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


@contextlib.contextmanager
def temporary_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hostplane-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def bench_env(state_dir: Path, user_port: int, admin_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOSTPLANE_")}
    env.update(
        HOSTPLANE_STATE_DIR=str(state_dir),
        HOSTPLANE_USER_PORT=str(user_port),
        HOSTPLANE_ADMIN_PORT=str(admin_port),
        HOSTPLANE_PLAIN_HTTP="true",
        HOSTPLANE_MANAGE_SYSTEM_USERS="false",
        HOSTPLANE_EMBEDDED_SERVICES="false",  # API only: no nginx/Postfix/Dovecot of its own
    )
    return env


def load_average() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def describe_setup() -> None:
    from hostplane.settings import Settings

    fields = Settings.model_fields
    print(
        f"machine: {os.cpu_count()} CPUs, {load_average()} (other work on the machine skews every figure); "
        f"python {sys.version.split()[0]}"
    )
    print(
        "server: one `hostplane serve` process, SQLite, argon2id "
        f"t={fields['argon2_time_cost'].default} m={fields['argon2_memory_kib'].default} KiB "
        f"p={fields['argon2_parallelism'].default}, hash_threads={fields['hash_threads'].default}"
    )


@dataclass(frozen=True)
class Panel:
    base: str
    bare_url: str
    password: str
    jwt: str
    api_key: str


def start_servers(children: Children, work: Path) -> Panel:
    """Init a state folder, create the bench user, start the panel and the baseline, get a JWT and an API key."""
    user_port, admin_port, baseline_port = free_ports(3)
    env = bench_env(work / "state", user_port, admin_port)
    hostplane = hostplane_command()
    password = secrets.token_urlsafe(18)
    run_cli([hostplane, "init"], env, work)
    run_cli([hostplane, "user", "create", BENCH_USER, "--email", BENCH_EMAIL, "--password", password], env, work)

    base = f"http://127.0.0.1:{user_port}"
    bare_url = f"http://127.0.0.1:{baseline_port}/"
    panel = children.start("hostplane-serve", [hostplane, "serve", "--log-level", "warning"], env, work)
    baseline_argv = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", str(baseline_port)]
    baseline = children.start("baseline", baseline_argv, env, work)
    wait_until_ready(panel, base + HEALTH_PATH)
    wait_until_ready(baseline, bare_url)

    login = httpx.post(base + LOGIN_PATH, json={"username": BENCH_USER, "password": password}, timeout=30)
    login.raise_for_status()
    jwt = login.json()["token"]
    created = httpx.post(
        base + API_KEYS_PATH,
        json={"description": "benchmark"},
        headers={"Authorization": f"Bearer {jwt}"},
        timeout=30,
    )
    created.raise_for_status()
    return Panel(base=base, bare_url=bare_url, password=password, jwt=jwt, api_key=created.json()["token"])


def throughput(panel: Panel, args: argparse.Namespace) -> float:
    """The wrk comparison; returns the JWT read throughput (req/s)."""
    targets = [
        ("bare Starlette JSON", panel.bare_url, {}),
        ("GET /api/v1/health (reference)", panel.base + HEALTH_PATH, {}),
        ("GET /api/v1/account (JWT)", panel.base + ACCOUNT_PATH, {"Authorization": f"Bearer {panel.jwt}"}),
        ("GET /api/v1/account (API key)", panel.base + ACCOUNT_PATH, {"Authorization": f"Bearer {panel.api_key}"}),
    ]
    for name, url, headers in targets:
        check = httpx.get(url, headers=headers, timeout=10)
        if check.status_code != 200:
            raise RuntimeError(f"{name}: {check.status_code} {check.text}")

    print(
        f"\n== Throughput: wrk {WRK_THREADS} threads, {WRK_CONNECTIONS} connections, "
        f"{args.duration:.0f} s each after a {args.warmup:.0f} s warm-up =="
    )
    results: list[tuple[str, WrkResult]] = []
    for name, url, headers in targets:
        if args.warmup > 0:
            run_wrk(url, args.warmup, headers)
        results.append((name, run_wrk(url, args.duration, headers)))
    bare_rps = results[0][1].requests_per_second
    print(f"{'endpoint':<32}{'req/s':>10}{'p50':>12}{'p99':>12}{'ratio':>8}")
    for name, result in results:
        ratio = result.requests_per_second / bare_rps
        print(f"{name:<32}{result.requests_per_second:>10.0f}{ms(result.p50):>12}{ms(result.p99):>12}{ratio:>8.2f}")
        if result.bad_responses or result.socket_errors:
            print(f"  !! {result.bad_responses} non-2xx responses; socket errors: {result.socket_errors}")
    ratios = [result.requests_per_second / bare_rps for _, result in results[2:]]
    met = all(ratio >= RATIO_TARGET for ratio in ratios) and not any(r.bad_responses for _, r in results)
    print(f"target ratio >= {RATIO_TARGET} for JWT and API key: {'MET' if met else 'NOT MET'}")
    return results[2][1].requests_per_second


@dataclass(frozen=True)
class LoadedReads:
    unloaded: ReadStats
    loaded: ReadStats
    load: LoginLoad
    achieved_login_rate: float

    @property
    def factor(self) -> float:
        return self.loaded.p99 / self.unloaded.p99


def reads_under_logins(panel: Panel, url: str, headers: dict[str, str], args: argparse.Namespace) -> LoadedReads:
    """Fixed-rate reads of `url`: once alone, once while another client logs in at the login rate."""
    asyncio.run(fixed_rate_reads(url, headers, args.read_rate, min(args.warmup, 2.0)))
    unloaded = asyncio.run(fixed_rate_reads(url, headers, args.read_rate, args.duration))
    load = LoginLoad(panel.base + LOGIN_PATH, BENCH_USER, panel.password, args.login_rate)
    load.start()
    try:
        time.sleep(1.0)  # let the login load reach a steady state before measuring
        window_start = time.monotonic()
        loaded = asyncio.run(fixed_rate_reads(url, headers, args.read_rate, args.duration))
        window_end = time.monotonic()
    finally:
        load.stop()  # waits for the logins still in flight, so the next phase starts on a drained server
    return LoadedReads(unloaded, loaded, load, load.rate_between(window_start, window_end))


def print_loaded_reads(result: LoadedReads, login_rate: float) -> None:
    for label, stats in (("unloaded", result.unloaded), ("with logins", result.loaded)):
        print(
            f"  {label:<12} reads: {len(stats.latencies)} ok, {stats.failures} failed; "
            f"p50 {ms(stats.p50)}, p99 {ms(stats.p99)}"
        )
    load = result.load
    login_p50 = ms(percentile(load.latencies, 0.50)) if load.latencies else "-"
    login_p99 = ms(percentile(load.latencies, 0.99)) if load.latencies else "-"
    print(
        f"  logins: {load.sent} sent, {len(load.successes)} succeeded, failures {load.failures or 'none'}; "
        f"achieved {result.achieved_login_rate:.1f}/s in the measured window (asked {login_rate:.0f}/s); "
        f"login latency p50 {login_p50}, p99 {login_p99}"
    )


def login_load(panel: Panel, args: argparse.Namespace, jwt_rps: float) -> None:
    share = args.read_rate / jwt_rps * 100 if jwt_rps else float("nan")
    print(
        f"\n== Reads under login load: GET /api/v1/account (JWT) open-loop at {args.read_rate:.0f}/s "
        f"(~{share:.0f} % of the wrk throughput above) for {args.duration:.0f} s, alone and while "
        f"logging in at {args.login_rate:.0f}/s =="
    )
    auth = {"Authorization": f"Bearer {panel.jwt}"}
    result = reads_under_logins(panel, panel.base + ACCOUNT_PATH, auth, args)
    print_loaded_reads(result, args.login_rate)
    met = result.factor <= LOGIN_P99_FACTOR_TARGET and result.achieved_login_rate >= 0.95 * args.login_rate
    print(
        f"p99 with logins / unloaded p99 = {result.factor:.2f} "
        f"(target <= {LOGIN_P99_FACTOR_TARGET:g} at >= 95 % of the login rate): {'MET' if met else 'NOT MET'}"
    )
    if args.loop_probe:
        # The same test on /api/v1/health (no authentication, no database): if its p99 holds while the
        # account reads suffer, argon2 is not blocking the event loop and the cause lies in the read path.
        print("event-loop probe: the same on GET /api/v1/health (no auth, no database)")
        probe = reads_under_logins(panel, panel.base + HEALTH_PATH, {}, args)
        print_loaded_reads(probe, args.login_rate)
        print(f"  health p99 with logins / unloaded = {probe.factor:.2f}")


def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `bash scripts/debian-packages.sh wrk` (or `make bench`)")
    describe_setup()
    children = Children()
    with temporary_dir() as work:
        try:
            panel = start_servers(children, work)
            jwt_rps = throughput(panel, args)
            login_load(panel, args, jwt_rps)
            print(f"\nfinished; {load_average()}")
        except Exception:
            for child in children.started:
                if child.process.poll() is not None:
                    print(f"--- {child.name} exited with {child.process.returncode}:\n{child.tail()}", file=sys.stderr)
            raise
        finally:
            children.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each wrk run (default 2)")
    parser.add_argument("--read-rate", type=float, default=100.0, help="reads/s in the login-load test (default 100)")
    parser.add_argument("--login-rate", type=float, default=20.0, help="logins/s in the login-load test (default 20)")
    parser.add_argument(
        "--no-loop-probe",
        dest="loop_probe",
        action="store_false",
        help="skip the extra login-load run against /api/v1/health",
    )
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return
    try:
        run(args)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
