#!/usr/bin/env python3
"""Benchmark: provisioning through the API with the real services (issue 3).

Starts, on free loopback ports under a throw-away state folder: `hostplane serve` with its embedded services
(nginx, Dovecot, OpenDKIM, Postfix), and, when Debian's `pebble` is installed, Pebble and pebble-challtestsrv.
Then, through the HTTP API, as a few users (no plan: no limits), it creates --domains domains and --mailboxes
mailboxes (spread over mail domains of --per-domain mailboxes each), one call at a time, and prints:

  * p50/p99 of a create over the first 100 and the last 100, and last/first (target: at most 1.5);
  * time from the create call until the site answers (HTTP with its Host header) and until an IMAP login
    succeeds (p50; target under 250 ms plus the password hash), sampled every --sample-every creates;
  * the time of one ACME issuance from Pebble (HTTP-01 through the panel's nginx), or "skipped: ...".

Run: `.venv/bin/python bench/provision.py` (full size: 1,000 domains, 10,000 mailboxes) or small:
`.venv/bin/python bench/provision.py --domains 20 --mailboxes 50`. Needs root (the daemons) like `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import imaplib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "Bench-Provision-2024!"
STARTUP_TIMEOUT = 120.0
FIRST_LAST = 100


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def hostplane_command() -> str:
    command = Path(sys.executable).with_name("hostplane")
    if not command.exists():
        raise SystemExit("the `hostplane` command is not installed (run `make venv`)")
    return str(command)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, check: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            raise SystemExit(f"{what}: the process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not ready after {timeout:g} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


# --- Pebble (optional) --------------------------------------------------------------------------------------


@dataclass
class Pebble:
    directory_url: str
    ca_bundle: Path
    processes: list[subprocess.Popen[bytes]]


def start_pebble(base: Path, http_port: int) -> Pebble | None:
    """Pebble validating HTTP-01 on the panel's nginx port, with a DNS server answering 127.0.0.1 for every name."""
    if shutil.which("pebble") is None or shutil.which("pebble-challtestsrv") is None:
        return None
    from hostplane.tls.selfsigned import self_signed_pem

    base.mkdir(parents=True, exist_ok=True)
    certificate, key = self_signed_pem(["localhost"])
    (base / "cert.pem").write_bytes(certificate)
    (base / "key.pem").write_bytes(key)
    acme, management, tls, dns, dns_management = free_ports(5)
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(base / "cert.pem"),
            "privateKey": str(base / "key.pem"),
            "httpPort": http_port,
            "tlsPort": tls,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (base / "pebble.json").write_text(json.dumps(config))
    processes: list[subprocess.Popen[bytes]] = []
    dns_argv = ["pebble-challtestsrv", "-defaultIPv6", "", "-defaultIPv4", "127.0.0.1", "-dns01", f"127.0.0.1:{dns}"]
    dns_argv += ["-http01", "", "-https01", "", "-tlsalpn01", "", "-management", f"127.0.0.1:{dns_management}"]
    with (base / "dns.log").open("wb") as out:
        processes.append(subprocess.Popen(dns_argv, stdout=out, stderr=subprocess.STDOUT))
    wait_for("pebble-challtestsrv", lambda: port_open(dns_management), processes[0], base / "dns.log", 20)
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    argv = ["pebble", "-config", str(base / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"]
    with (base / "pebble.log").open("wb") as out:
        processes.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=base))
    wait_for("pebble", lambda: port_open(acme) and port_open(management), processes[1], base / "pebble.log", 20)
    context = ssl.create_default_context(cafile=str(base / "cert.pem"))
    with urllib.request.urlopen(f"https://127.0.0.1:{management}/roots/0", context=context) as response:
        response.read()
    return Pebble(f"https://127.0.0.1:{acme}/dir", base / "cert.pem", processes)


# --- the panel ----------------------------------------------------------------------------------------------


@dataclass
class Panel:
    env: dict[str, str]
    api: str
    nginx_port: int
    imap_port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def temporary_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hpb-", dir="/tmp"))  # short: Dovecot's socket paths must fit
    os.chmod(root, 0o711)  # the daemons' users traverse it
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def panel_env(root: Path, pebble: Pebble | None, ports: dict[str, int]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOSTPLANE_")}
    env.update(
        HOSTPLANE_STATE_DIR=str(root / "s"),
        HOSTPLANE_PLAIN_HTTP="true",
        HOSTPLANE_MANAGE_SYSTEM_USERS="false",
        HOSTPLANE_DKIM_REQUIRE_SAFE_KEYS="false",  # the keys live under /tmp here
        **{f"HOSTPLANE_{name.upper()}": str(port) for name, port in ports.items()},
    )
    if pebble is not None:
        env.update(HOSTPLANE_ACME_DIRECTORY_URL=pebble.directory_url, HOSTPLANE_ACME_CA_BUNDLE=str(pebble.ca_bundle))
        env.update(HOSTPLANE_ACME_CONTACT_EMAIL="hostmaster@hostplane.test")
    return env


def start_panel(root: Path, ports: dict[str, int], pebble: Pebble | None, users: list[str]) -> Panel:
    env = panel_env(root, pebble, ports)
    command = hostplane_command()
    for argv in (
        [command, "init"],
        *[
            [command, "user", "create", name, "--email", f"{name}@example.com", "--password", PASSWORD]
            for name in users
        ],
    ):
        result = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} failed:\n{result.stdout}{result.stderr}")
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [command, "serve", "--log-level", "warning"], env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT
        )
    wait_for("hostplane serve", lambda: port_open(ports["user_port"]), process, log, STARTUP_TIMEOUT)
    api = f"http://127.0.0.1:{ports['user_port']}"
    return Panel(env, api, ports["nginx_http_port"], ports["mail_imap_port"], process, log)


def login(client: httpx.Client, name: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


# --- measuring ----------------------------------------------------------------------------------------------


PROBE = httpx.Client(timeout=5)  # one client: building one per request costs more than the request


def site_answers(port: int, host: str) -> bool:
    try:
        response = PROBE.get(f"http://127.0.0.1:{port}/", headers={"Host": host})
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def imap_login(port: int, address: str, password: str) -> bool:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=15)
    try:
        client.login(address, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return True


def until(check: Callable[[], bool], started: float, timeout: float = 30.0) -> float:
    """Seconds from `started` until `check()` first holds."""
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit("timed out waiting for the service to answer")
        time.sleep(0.005)
    return time.monotonic() - started


@dataclass
class Series:
    name: str
    creates: list[float]
    live: list[float]
    live_label: str


def create(
    client: httpx.Client, url: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    response = client.post(url, headers=headers, json=body)
    if response.status_code != 201:
        raise SystemExit(
            f"POST {url} {body.get('name') or body.get('local_part')}: {response.status_code} {response.text}"
        )
    result: dict[str, Any] = response.json()
    return result, started


def provision(panel: Panel, args: argparse.Namespace, users: list[str]) -> tuple[Series, Series, str]:
    with httpx.Client(base_url=panel.api, timeout=60) as client:
        tokens = [login(client, name) for name in users]
        domains = Series("domain", [], [], "create call -> site answers")
        first_site = ""
        for index in range(args.domains):
            name = f"d{index:05d}.bench.test"
            headers = tokens[index % len(tokens)]
            _, started = create(client, "/api/v1/domains", headers, {"name": name})
            domains.creates.append(time.monotonic() - started)
            if index % args.sample_every == 0:
                domains.live.append(until(lambda name=name: site_answers(panel.nginx_port, name), started))
            first_site = first_site or name
            if (index + 1) % 100 == 0:
                print(f"  {index + 1} domains", flush=True)

        mailboxes = Series("mailbox", [], [], "create call -> IMAP login succeeds")
        mail_domains: list[tuple[int, dict[str, str]]] = []
        for index in range(args.mailboxes):
            if index % args.per_domain == 0:
                headers = tokens[len(mail_domains) % len(tokens)]
                body, _ = create(
                    client, "/api/v1/mail/domains", headers, {"name": f"m{len(mail_domains):05d}.bench.test"}
                )
                mail_domains.append((body["id"], headers))
            domain_id, headers = mail_domains[-1]
            local = f"u{index:06d}"
            password = f"Mbx-{secrets.token_hex(6)}"
            url = f"/api/v1/mail/domains/{domain_id}/mailboxes"
            box, started = create(client, url, headers, {"local_part": local, "password": password})
            mailboxes.creates.append(time.monotonic() - started)
            if index % args.sample_every == 0:
                address = box["address"]
                mailboxes.live.append(until(lambda a=address, p=password: imap_login(panel.imap_port, a, p), started))
            if (index + 1) % 1000 == 0:
                print(f"  {index + 1} mailboxes", flush=True)
    return domains, mailboxes, first_site


def report(series: Series) -> None:
    first, last = series.creates[:FIRST_LAST], series.creates[-FIRST_LAST:]
    p50_first, p99_first = percentile(first, 0.5), percentile(first, 0.99)
    p50_last, p99_last = percentile(last, 0.5), percentile(last, 0.99)
    print(f"{series.name} creates: {len(series.creates)}")
    print(f"  first {len(first):>4}: p50 {ms(p50_first)}  p99 {ms(p99_first)}")
    print(f"  last  {len(last):>4}: p50 {ms(p50_last)}  p99 {ms(p99_last)}")
    print(f"  last/first: p50 {p50_last / p50_first:5.2f}  p99 {p99_last / p99_first:5.2f}  (target <= 1.5)")
    if series.live:
        print(
            f"  {series.live_label}: p50 {ms(percentile(series.live, 0.5))}  p99 {ms(percentile(series.live, 0.99))}"
            f"  ({len(series.live)} samples)"
        )


def acme_issuance(panel: Panel, hostname: str, owner: str) -> str:
    """One ACME order from Pebble for an existing site, run in this process on the panel's state (the job
    validates HTTP-01 through the running nginx and installs the certificate, which reloads it)."""
    try:
        from hostplane.jobs.service import JobService
        from hostplane.runtime import build_runtime
        from hostplane.settings import Settings
        from hostplane.tls.acme import AcmeService
        from hostplane.users.service import UserAdminService
    except ImportError as exc:
        return f"skipped: no ACME ({exc})"

    async def run() -> str:
        saved = {key: value for key, value in os.environ.items() if key.startswith("HOSTPLANE_")}
        os.environ.update({key: value for key, value in panel.env.items() if key.startswith("HOSTPLANE_")})
        try:
            runtime = build_runtime(Settings())
        finally:
            for key in [key for key in os.environ if key.startswith("HOSTPLANE_")]:
                del os.environ[key]
            os.environ.update(saved)
        try:
            user = await UserAdminService(runtime).find_user(owner)
            started = time.monotonic()
            job = await AcmeService(runtime).order(user, hostname)
            done = await JobService(runtime).wait(job.id, 120)
            elapsed = time.monotonic() - started
            if done.status != "succeeded":
                return f"failed: {done.error}"
            return f"{elapsed:.2f} s (order -> certificate installed, nginx reloaded)"
        finally:
            await runtime.close()

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--mailboxes", type=int, default=10000)
    parser.add_argument("--per-domain", type=int, default=100, help="mailboxes per mail domain")
    parser.add_argument("--users", type=int, default=4, help="panel users the creates are spread over")
    parser.add_argument("--sample-every", type=int, default=10, help="measure site/IMAP liveness every N creates")
    parser.add_argument("--no-acme", action="store_true", help="skip the ACME issuance")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the panel starts nginx, Postfix, Dovecot and OpenDKIM")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    users = [f"bench{index}" for index in range(args.users)]
    with temporary_root() as root:
        names = ["user_port", "admin_port", "webmail_port", "nginx_http_port", "nginx_https_port", "mail_smtp_port"]
        names += ["mail_imap_port", "mail_lmtp_port", "dkim_milter_port"]
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        pebble = None if args.no_acme else start_pebble(root / "pebble", ports["nginx_http_port"])
        panel: Panel | None = None
        try:
            started = time.monotonic()
            panel = start_panel(root, ports, pebble, users)
            print(
                f"panel and services up in {time.monotonic() - started:.1f} s; creating "
                f"{args.domains} domains and {args.mailboxes} mailboxes as {len(users)} users"
            )
            domains, mailboxes, first_site = provision(panel, args, users)
            print()
            report(domains)
            report(mailboxes)
            if args.no_acme:
                print("ACME issuance: skipped (--no-acme)")
            elif pebble is None:
                print("ACME issuance: skipped: no ACME (pebble is not installed)")
            elif not first_site:
                print("ACME issuance: skipped (no domain created)")
            else:
                print(f"ACME issuance: {acme_issuance(panel, first_site, users[0])}")
        finally:
            if panel is not None:
                stop(panel.process)
                if panel.process.returncode not in (0, None):
                    print(f"hostplane serve exited with {panel.process.returncode}:\n{panel.log.read_text()[-3000:]}")
            for process in reversed(pebble.processes if pebble else []):
                stop(process, 15)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
