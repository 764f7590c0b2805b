"""A real ACME CA for the TLS tests: Debian's Pebble with pebble-challtestsrv as its DNS, on free loopback ports,
started once per session and stopped by pid at the end; and our real nginx per test, on the HTTP port Pebble's
validation authority connects to (so HTTP-01 is answered by the panel's own vhosts).

Pebble details (SERVICES.md (d), pitfall 6): Debian ships no test certificate, so the listener gets a self-made
one (the ACME client trusts it through `acme_ca_bundle`); AAAA answers are turned off (`-defaultIPv6 ""`) or the
validation authority would try ::1 first; no nonce is rejected (PEBBLE_WFE_NONCEREJECT=0), no authorization is
reused (PEBBLE_AUTHZREUSE=0), no validation sleeps (PEBBLE_VA_NOSLEEP=1); certificates are valid for one hour so
that every one is due for renewal; the root CA is new at every start, so it is fetched from /roots/0 after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.daemons import port_open
from hostplane.system.nginx import NginxDriver
from hostplane.tls.selfsigned import self_signed_pem
from tests.integration.nginx_fixture import running_nginx
from tests.integration.websites.conftest import free_port

CERTIFICATE_VALIDITY_SECONDS = 3600


@dataclass(frozen=True)
class Pebble:
    directory_url: str
    ca_bundle: Path
    """Trusts Pebble's own listener (the ACME API and its management API)."""
    root_pem: str
    """The root of the certificates Pebble issues (new at each start)."""
    http_port: int
    """Where Pebble's validation authority fetches HTTP-01 answers: the test nginx's HTTP port."""
    dns_management_url: str

    def resolve(self, hostname: str, address: str) -> None:
        """Make the fake DNS answer `address` for `hostname` (A record)."""
        body = json.dumps({"host": hostname, "addresses": [address]}).encode()
        request = urllib.request.Request(f"{self.dns_management_url}/add-a", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def forget(self, hostname: str) -> None:
        body = json.dumps({"host": hostname}).encode()
        request = urllib.request.Request(f"{self.dns_management_url}/clear-a", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open("127.0.0.1", port):
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited early: {log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{process.args[0]} does not listen on {port}: {log.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """By its own pid: SIGTERM, then SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    base = tmp_path_factory.mktemp("pebble")
    certificate, key = self_signed_pem(["localhost"])
    (base / "cert.pem").write_bytes(certificate)
    (base / "key.pem").write_bytes(key)
    acme_port, management_port, tls_port, http_port = free_port(), free_port(), free_port(), free_port()
    dns_port, dns_management_port = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{management_port}",
            "certificate": str(base / "cert.pem"),
            "privateKey": str(base / "key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": CERTIFICATE_VALIDITY_SECONDS,
        }
    }
    (base / "pebble.json").write_text(json.dumps(config))
    dns_log, pebble_log = base / "challtestsrv.log", base / "pebble.log"
    started: list[subprocess.Popen[bytes]] = []
    try:
        with dns_log.open("wb") as out:
            dns = subprocess.Popen(
                [
                    "pebble-challtestsrv",
                    "-defaultIPv6",
                    "",
                    "-defaultIPv4",
                    "127.0.0.1",
                    "-dns01",
                    f"127.0.0.1:{dns_port}",
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-management",
                    f"127.0.0.1:{dns_management_port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(dns)
        _wait_for(dns_management_port, dns, dns_log)
        environment = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",
            "PEBBLE_AUTHZREUSE": "0",
        }
        with pebble_log.open("wb") as out:
            server = subprocess.Popen(
                ["pebble", "-config", str(base / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=base,
            )
        started.append(server)
        _wait_for(acme_port, server, pebble_log)
        _wait_for(management_port, server, pebble_log)
        context = ssl.create_default_context(cafile=str(base / "cert.pem"))
        with urllib.request.urlopen(f"https://127.0.0.1:{management_port}/roots/0", context=context) as response:
            root_pem = response.read().decode()
        assert "BEGIN CERTIFICATE" in root_pem
        yield Pebble(
            directory_url=f"https://127.0.0.1:{acme_port}/dir",
            ca_bundle=base / "cert.pem",
            root_pem=root_pem,
            http_port=http_port,
            dns_management_url=f"http://127.0.0.1:{dns_management_port}",
        )
    finally:
        for process in reversed(started):
            _stop(process)


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], pebble: Pebble, nginx_served: dict[str, Path]) -> Settings:
    """The panel against Pebble, with its nginx on the port Pebble validates on."""
    return settings_factory(
        nginx_http_port=pebble.http_port,
        nginx_https_port=free_port(),
        acme_directory_url=pebble.directory_url,
        acme_ca_bundle=pebble.ca_bundle,
        acme_contact_email="hostmaster@hostplane.test",
        acme_order_timeout=30,
        **nginx_served,
    )


@pytest.fixture
async def acme_nginx(runtime: Runtime) -> AsyncIterator[NginxDriver]:
    async with running_nginx(runtime) as driver:
        yield driver


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Any:
    return await make_account("bob")
