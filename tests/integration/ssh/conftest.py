"""A real sshd on a free loopback port and real Linux accounts made by the panel's driver, removed afterwards."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostplane.settings import Settings
from hostplane.system.daemons import read_pid, stop_pid, wait_for_port
from hostplane.system.runner import run_sync
from tests.integration.linux_accounts import scratch_home_root, unique_panel_username

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it must be started by its absolute path


@pytest.fixture
def home_root() -> Iterator[Path]:
    with scratch_home_root() as home:
        yield home


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], home_root: Path) -> Settings:
    """These tests use the real driver: panel users become Linux accounts under home_root."""
    return settings_factory(manage_system_users=True, system_users_home=home_root)


@pytest.fixture
def panel_username() -> Iterator[str]:
    with unique_panel_username("t") as username:
        yield username


@dataclass(frozen=True)
class Sshd:
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_sshd(base: Path, port: int, pidfile: Path, log: Path) -> None:
    assert Path(SSHD).exists(), "sshd is missing: install the openssh-server package"
    base.mkdir()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege-separation folder
    host_key = base / "host_ed25519"
    run_sync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)])
    config = base / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {pidfile}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "UsePAM no",
                "AuthorizedKeysFile .ssh/authorized_keys",
                "StrictModes yes",
                "PermitRootLogin no",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    run_sync([SSHD, "-t", "-f", str(config)])
    run_sync([SSHD, "-f", str(config), "-E", str(log)])  # daemonizes once listening; the pid is in PidFile


@pytest.fixture
async def sshd(tmp_path: Path) -> AsyncIterator[Sshd]:
    """sshd -f <our config>: own host key and pidfile, keys only, no PAM, StrictModes on; stopped by its pid."""
    base = tmp_path / "sshd"
    port, pidfile, log = free_port(), base / "sshd.pid", base / "sshd.log"
    start_sshd(base, port, pidfile, log)
    try:
        await wait_for_port("127.0.0.1", port)
        yield Sshd(port=port, log=log)
    finally:
        pid = read_pid(pidfile)
        if pid is not None:
            await stop_pid(pid)


def ssh_argv(server: Sshd, key: Path, user: str, *command: str) -> list[str]:
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(key),
        "-p",
        str(server.port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "PreferredAuthentications=publickey",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
        f"{user}@127.0.0.1",
        *command,
    ]


def mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o7777


def owner(path: Path) -> str:
    return pwd.getpwuid(os.lstat(path).st_uid).pw_name


def shadow_password(name: str) -> str:
    line: str = run_sync(["getent", "shadow", name]).stdout
    return line.split(":")[1]
