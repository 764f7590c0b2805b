"""Scratch places for tests that make real Linux accounts through the panel's driver, removed afterwards."""

from __future__ import annotations

import contextlib
import pwd
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from hostplane.system.runner import run_sync
from hostplane.system.ssh import linux_name


@contextlib.contextmanager
def scratch_home_root() -> Iterator[Path]:
    """A root-owned folder outside /tmp for the accounts' homes (sshd's StrictModes and our driver refuse homes
    below world-writable folders); removed at the end."""
    base = Path("/srv") / f"hostplane-test-{uuid.uuid4().hex[:12]}"
    try:
        yield base / "home"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def unique_panel_username(prefix: str) -> Iterator[str]:
    """A unique panel name starting with `prefix`; its Linux account is deleted at the end whatever happened."""
    username = f"{prefix}{uuid.uuid4().hex[:12]}"
    try:
        yield username
    finally:
        name = linux_name(username)
        try:
            pwd.getpwnam(name)
        except KeyError:
            pass
        else:
            run_sync(["userdel", "--remove", name], check=False)
