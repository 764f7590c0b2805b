"""A real Hostplane for tests that talk HTTP over sockets, as outside clients do: `hostplane init` in a temporary
state folder, then `hostplane serve` in a subprocess on free loopback ports.

Use `launched_panels` from a module-scoped fixture; every server it started is stopped when the fixture ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOSTPLANE = Path(sys.executable).with_name("hostplane")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningPanel:
    user_port: int
    admin_port: int
    admin_password: str
    state_dir: Path
    scheme: str
    webmail_port: int = 0

    def url(self, port: int, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{port}{path}"

    @property
    def user_url(self) -> str:
        """The base URL of the user port, as a client library is configured with it."""
        return self.url(self.user_port, "")


def panel_env(
    state_dir: Path, user_port: int, admin_port: int, *, plain_http: bool, webmail_port: int | None = None
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOSTPLANE_")}
    env.update(
        HOSTPLANE_STATE_DIR=str(state_dir),
        HOSTPLANE_USER_PORT=str(user_port),
        HOSTPLANE_ADMIN_PORT=str(admin_port),
        HOSTPLANE_WEBMAIL_PORT=str(webmail_port or free_port()),  # never cPanel's 2096: panels run side by side
        HOSTPLANE_PLAIN_HTTP="true" if plain_http else "false",
        HOSTPLANE_ARGON2_TIME_COST="1",
        HOSTPLANE_ARGON2_MEMORY_KIB="1024",
        HOSTPLANE_MANAGE_SYSTEM_USERS="false",
        HOSTPLANE_EMBEDDED_SERVICES="false",  # API only: no nginx/Postfix/Dovecot of its own
    )
    return env


def wait_until_serving(process: subprocess.Popen[bytes], ports: list[int], log: Path) -> None:
    deadline = time.monotonic() + 30
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            pytest.fail(f"hostplane serve exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"hostplane serve did not listen on {waiting}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.5).close()
        except OSError:
            time.sleep(0.1)
        else:
            waiting.pop(0)


@contextlib.contextmanager
def launched_panels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[bool], RunningPanel]]:
    """A function that runs `hostplane init` then `hostplane serve` (plain HTTP or TLS) and returns the running
    panel; on exit, every server it started is stopped (terminated, killed if it does not exit in time)."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(plain_http: bool) -> RunningPanel:
        home = tmp_path_factory.mktemp("panel")
        state_dir = home / "state"
        user_port, admin_port, webmail_port = free_port(), free_port(), free_port()
        env = panel_env(state_dir, user_port, admin_port, plain_http=plain_http, webmail_port=webmail_port)
        init = subprocess.run(
            [str(HOSTPLANE), "init"], cwd=home, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert init.returncode == 0, init.stderr + init.stdout
        match = re.search(r"password: (\S+)", init.stdout)
        assert match, init.stdout
        log = home / "serve.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(HOSTPLANE), "serve", "--log-level", "warning"],
                cwd=home,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        wait_until_serving(process, [user_port, admin_port, webmail_port], log)
        scheme = "http" if plain_http else "https"
        return RunningPanel(user_port, admin_port, match.group(1), state_dir, scheme, webmail_port)

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
