"""`hostplane settings show|set`: the panel's run-time settings through PanelSettingsService, the same values the
native admin API and the WHM dialect see; bad input exits non-zero with a clear message and changes nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from hostplane.activity.models import ActivityEntry
from hostplane.cli import app
from hostplane.panel.service import PanelSettings, PanelSettingsService
from hostplane.runtime import build_runtime
from hostplane.settings import load_settings

runner = CliRunner()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised state folder, configured through the environment only."""
    for name in [key for key in os.environ if key.startswith("HOSTPLANE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    for name, value in {
        "STATE_DIR": str(state),
        "PLAIN_HTTP": "true",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "MANAGE_SYSTEM_USERS": "false",
        "TOTP_ISSUER": "Default Issuer",
    }.items():
        monkeypatch.setenv(f"HOSTPLANE_{name}", value)
    assert hostplane("init").exit_code == 0
    return state


def hostplane(*args: str) -> Result:
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    return " ".join(text.split())


def core() -> tuple[PanelSettings, list[str]]:
    """The settings as the core reads them, and the events of the activity log."""

    async def read() -> tuple[PanelSettings, list[str]]:
        runtime = build_runtime(load_settings())
        try:
            current = await PanelSettingsService(runtime).current()
            async with runtime.reading() as db:
                events = list(await db.scalars(select(ActivityEntry.event).order_by(ActivityEntry.id)))
            return current, events
        finally:
            await runtime.close()

    return asyncio.run(read())


def test_show_prints_the_defaults(state_dir: Path) -> None:
    result = hostplane("settings", "show")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["two_factor_policy: off", "two_factor_issuer: Default Issuer"]


def test_set_changes_what_is_given_and_show_reads_it_back(state_dir: Path) -> None:
    result = hostplane("settings", "set", "--two-factor-issuer", "Example [Hosting]")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["two_factor_policy: off", "two_factor_issuer: Example [Hosting]"]
    both = hostplane("settings", "set", "--two-factor-policy")
    assert both.exit_code == 0, both.output
    assert hostplane("settings", "show").stdout.splitlines() == [
        "two_factor_policy: on",
        "two_factor_issuer: Example [Hosting]",
    ]
    current, events = core()
    assert current == PanelSettings(two_factor_policy=True, two_factor_issuer="Example [Hosting]")
    assert events[-2:] == ["admin.panel.2fa_issuer_set", "admin.panel.2fa_policy_enabled"]
    off = hostplane("settings", "set", "--no-two-factor-policy")
    assert off.exit_code == 0, off.output
    assert core()[0].two_factor_policy is False


@pytest.mark.parametrize("issuer", ["a:b", "", "x" * 65, "bad\nissuer"])
def test_a_bad_issuer_exits_1_and_changes_nothing(state_dir: Path, issuer: str) -> None:
    before = core()
    result = hostplane("settings", "set", "--two-factor-policy", "--two-factor-issuer", issuer)
    assert result.exit_code == 1, result.output
    assert "two_factor_issuer" in flat(result.stderr)
    assert core() == before


def test_set_without_anything_to_change_exits_2(state_dir: Path) -> None:
    before = core()
    result = hostplane("settings", "set")
    assert result.exit_code == 2
    assert "Nothing to change" in flat(result.stderr)
    assert core() == before
