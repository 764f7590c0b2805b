"""`hostplane plan create|list|assign`: checked through the core on the same state folder; bad input exits
non-zero with a clear message and changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hostplane.auth.models import User
from hostplane.plans.limits import PlanUsage, usage
from hostplane.runtime import build_runtime
from hostplane.settings import load_settings
from tests.conftest import PASSWORD
from tests.unit.cli.helpers import flat, hostplane, init


@pytest.fixture
def state_dir(state_dir: Path) -> Path:
    """An initialised state folder with a hosting user `carol`."""
    init()
    created = hostplane("user", "create", "carol", "--email", "carol@example.com", "--password", PASSWORD)
    assert created.exit_code == 0, created.output
    return state_dir


def usage_of(username: str) -> PlanUsage:
    async def read() -> PlanUsage:
        from sqlalchemy import select

        runtime = build_runtime(load_settings())
        try:
            async with runtime.reading() as db:
                user_id = await db.scalar(select(User.id).where(User.username == username))
                assert user_id is not None
                return await usage(db, user_id)
        finally:
            await runtime.close()

    return asyncio.run(read())


def test_plan_create_then_assign_puts_the_user_on_the_plan(state_dir: Path) -> None:
    created = hostplane("plan", "create", "Basic", "--max-domains", "2", "--max-mailboxes", "10", "--feature", "emails")
    assert created.exit_code == 0, created.output
    assert "Plan Basic created" in created.stdout
    assigned = hostplane("plan", "assign", "carol", "Basic")
    assert assigned.exit_code == 0, assigned.output
    found = usage_of("carol")
    assert (found.plan_name, found.assigned) == ("Basic", True)
    assert (found.limits["domains"], found.limits["mailboxes"], found.limits["websites"]) == (2, 10, 0)
    assert found.features == ["emails"]


def test_plan_list_shows_the_limits_and_the_users(state_dir: Path) -> None:
    assert hostplane("plan", "create", "Basic", "--max-domains", "2", "--default").exit_code == 0
    assert hostplane("plan", "assign", "carol", "Basic").exit_code == 0
    listed = hostplane("plan", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if "Basic" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[1:] == ["Basic", "2", "-", "-", "-", "-", "1", "yes"]


def test_assign_without_a_plan_puts_the_user_back_on_the_default(state_dir: Path) -> None:
    assert hostplane("plan", "create", "Default", "--max-domains", "1", "--default").exit_code == 0
    assert hostplane("plan", "create", "Big").exit_code == 0
    assert hostplane("plan", "assign", "carol", "Big").exit_code == 0
    back = hostplane("plan", "assign", "carol")
    assert back.exit_code == 0, back.output
    assert (usage_of("carol").plan_name, usage_of("carol").assigned) == ("Default", False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "create", "bad/name"], "A plan name is"),
        (["plan", "create", "ok", "--feature", "rootshell"], "Unknown feature"),
        (["plan", "assign", "carol", "nosuchplan"], "No plan named"),
        (["plan", "assign", "nobody", "x"], "No user named"),
    ],
)
def test_bad_input_exits_non_zero_with_a_clear_message(state_dir: Path, args: list[str], message: str) -> None:
    result = hostplane(*args)
    assert result.exit_code == 1
    assert message in flat(result.stderr)
    assert usage_of("carol").plan_id is None


def test_a_negative_limit_is_refused_by_the_command_line(state_dir: Path) -> None:
    result = hostplane("plan", "create", "neg", "--max-domains", "-1")
    assert result.exit_code == 2
    assert hostplane("plan", "list").stdout.count("neg") == 0
