"""A whole panel state for the supervisor's tests: a short temporary root (Dovecot's unix sockets must fit in 108
bytes) that the daemons' users can traverse, a migrated SQLite database, a key file, and free loopback ports for
nginx, SMTP, IMAP, LMTP and the DKIM milter. Every daemon started here is stopped by its pid at the end."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from hostplane.cli import app
from hostplane.hosting.state import build_supervisor
from hostplane.keys import new_key_file_content
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from hostplane.system.dovecot import DovecotDriver
from hostplane.system.nginx import NginxDriver
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.system.postfix import PostfixDriver
from hostplane.system.supervisor import Supervisor, end_group, group_members
from tests.integration.mail.conftest import free_ports


def panel_values(root: Path, database: Path) -> dict[str, Any]:
    """Settings of a panel whose services live under `root` (also as HOSTPLANE_ variables for subprocesses)."""
    nginx, https, smtp, imap, lmtp, milter = free_ports(6)
    return {
        "state_dir": root / "s",
        "database_url": f"sqlite+aiosqlite:///{database}",
        "plain_http": True,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "manage_system_users": False,
        "nginx_http_port": nginx,
        "nginx_https_port": https,
        "mail_smtp_port": smtp,
        "mail_imap_port": imap,
        "mail_lmtp_port": lmtp,
        "dkim_milter_port": milter,
        "dkim_require_safe_keys": False,  # the keys live under /tmp here (see SERVICES.md, pitfall 3)
        "services_check_seconds": 0.5,
    }


def as_environment(values: dict[str, Any], base: dict[str, str] | None = None) -> dict[str, str]:
    """HOSTPLANE_ variables for these settings, added to `base` (default: this environment without its own
    HOSTPLANE_ variables)."""
    env = dict(base) if base is not None else {k: v for k, v in os.environ.items() if not k.startswith("HOSTPLANE_")}
    for key, value in values.items():
        env[f"HOSTPLANE_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


@pytest.fixture
def panel_root(sqlite_template: Path) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hps-", dir="/tmp"))
    os.chmod(root, 0o711)  # the daemons' users only traverse it
    (root / "s").mkdir(mode=0o700)
    (root / "s" / "secret.key").write_bytes(new_key_file_content())
    shutil.copyfile(sqlite_template, root / "s" / "hostplane.db")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def panel_settings(panel_root: Path) -> Settings:
    return Settings(**panel_values(panel_root, panel_root / "s" / "hostplane.db"))


@pytest.fixture
async def panel_runtime(panel_settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(panel_settings)
    yield runtime
    await runtime.close()


@pytest.fixture
async def supervisor(panel_runtime: Runtime) -> AsyncIterator[Supervisor]:
    """A started supervisor; at the end every service is stopped and whatever is left of its processes killed."""
    supervisor = build_supervisor(panel_runtime)
    groups: set[int] = set()
    try:
        await supervisor.start()
        groups = {pid for service in supervisor.services if (pid := service.pid()) is not None}
        yield supervisor
    finally:
        groups |= {pid for service in supervisor.services if (pid := service.pid()) is not None}
        await supervisor.stop()
        for group in groups:
            if group_members(group):
                await asyncio.to_thread(end_group, group, 1.0)


runner = CliRunner()


def hostplane(settings: Settings, *args: str, input: str | None = None) -> Result:
    """Run a `hostplane` command with these settings in the environment (as the admin would on the host)."""
    values = {name: getattr(settings, name) for name in settings.model_fields_set}
    return runner.invoke(app, list(args), env=as_environment(values, base={}), input=input)


def flat(text: str) -> str:
    return " ".join(text.split())


def masters(settings: Settings) -> dict[str, int | None]:
    """The master pid of each embedded service, as its pidfile says (None: not running)."""
    return {
        "dovecot": DovecotDriver.from_settings(settings).pid(),
        "opendkim": OpenDkimDriver.from_settings(settings).pid(),
        "postfix": PostfixDriver.from_settings(settings).pid(),
        "nginx": NginxDriver.from_settings(settings).master_pid(),
    }


def wait_for(
    condition: str, check: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float = 90
) -> None:
    """Until `check()` holds, while `hostplane serve` (writing to `log`) still runs, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert process.poll() is None, f"hostplane serve exited with {process.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{condition} not reached:\n{log.read_text()}"
        time.sleep(0.2)
