"""Conformance tests: one module per driver interface (system/interfaces.py), each test run against the in-memory
fake (system/fake.py; marked `unit`) and against the real driver (marked `integration`: it writes real files, runs
the real programs, or talks to a real server). A rule a service relies on is checked here for both, so a unit test
of a service with the fake says something about the real driver too."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from hostplane.settings import Settings

FAKE = pytest.param("fake", id="fake")
REAL = pytest.param("real", id="real", marks=pytest.mark.integration)
IMPLEMENTATIONS = [FAKE, REAL]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def settings_in(folder: Path, **overrides: Any) -> Settings:
    """Settings whose every file lives below `folder` (no database needed: drivers never open it)."""
    state = folder / "state"
    state.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {"state_dir": state, "plain_http": True, "manage_system_users": False}
    values.update(overrides)
    return Settings(**values)
