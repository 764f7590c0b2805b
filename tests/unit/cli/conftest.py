"""A fresh state folder for each CLI test, configured through the environment only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dkim_safe_root: Path) -> Path:
    """A fresh state folder in the environment, and nothing else of the caller's HOSTPLANE_ settings."""
    for name in [key for key in os.environ if key.startswith("HOSTPLANE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    monkeypatch.setenv("HOSTPLANE_STATE_DIR", str(state))
    monkeypatch.setenv("HOSTPLANE_PLAIN_HTTP", "true")
    monkeypatch.setenv("HOSTPLANE_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("HOSTPLANE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("HOSTPLANE_MANAGE_SYSTEM_USERS", "false")  # no Linux accounts from CLI tests
    monkeypatch.setenv("HOSTPLANE_DKIM_SAFE_ROOT", str(dkim_safe_root))  # not /var/lib/hostplane
    return state
