"""Plans and limits in the core: which plan applies, what each limit counts, the disk gate, and the plan rules
(names, limits, features, the default plan, deleting). Real database (SQLite and PostgreSQL), no fakes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostplane.activity.log import Actor
from hostplane.domains.models import Domain
from hostplane.errors import Conflict, InvalidInput, LimitReached, NotFound
from hostplane.mail.models import Mailbox, MailDomain
from hostplane.plans.limits import reserve, usage
from hostplane.plans.models import FEATURES
from hostplane.plans.service import PlanService
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from tests.conftest import Account

ADMIN = Actor(None, "test")


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(plan_disk_cache_seconds=0)


async def make_plan(runtime: Runtime, name: str = "small", **values: Any) -> int:
    view = await PlanService(runtime).create(ADMIN, name=name, **values)
    return view.plan.id


async def add_domains(runtime: Runtime, user_id: int, *names: str, parent: str | None = None) -> None:
    async with runtime.writing() as db:
        parent_id = None
        if parent is not None:
            parent_row = Domain(user_id=user_id, name=parent, docroot="/nonexistent")
            db.add(parent_row)
            await db.flush()
            parent_id = parent_row.id
        for name in names:
            db.add(Domain(user_id=user_id, name=name, docroot="/nonexistent", parent_id=parent_id))


async def add_mailboxes(runtime: Runtime, user_id: int, quotas: list[int]) -> None:
    async with runtime.writing() as db:
        domain = MailDomain(user_id=user_id, name=f"mail{user_id}.example.com")
        db.add(domain)
        await db.flush()
        for index, quota in enumerate(quotas):
            db.add(Mailbox(domain_id=domain.id, local_part=f"box{index}", password_hash="x", quota_mb=quota))


async def try_reserve(runtime: Runtime, user_id: int, resource: Any, amount: int = 1) -> None:
    async with runtime.writing() as db:
        await reserve(db, user_id, resource, amount, settings=runtime.settings)


async def test_a_user_without_a_plan_and_without_a_default_plan_has_no_limits(runtime: Runtime, alice: Account) -> None:
    await add_domains(runtime, alice.user.id, "a.example", "b.example")
    await try_reserve(runtime, alice.user.id, "domains", 1000)
    async with runtime.reading() as db:
        found = await usage(db, alice.user.id)
    assert found.plan_id is None
    assert found.limits == {"domains": 0, "websites": 0, "mailboxes": 0, "mail_quota_mb": 0, "disk_mb": 0}
    assert found.used["domains"] == 2
    assert found.features == list(FEATURES)


async def test_the_domain_limit_counts_main_domains_and_the_website_limit_counts_subdomains_too(
    runtime: Runtime, alice: Account
) -> None:
    plan_id = await make_plan(runtime, max_domains=2, max_websites=4)
    await PlanService(runtime).assign(ADMIN, alice.user.id, plan_id)
    await add_domains(runtime, alice.user.id, "www.one.example", "blog.one.example", parent="one.example")
    await try_reserve(runtime, alice.user.id, "domains")  # 1 main domain of 2
    await try_reserve(runtime, alice.user.id, "websites")  # 3 websites of 4
    await add_domains(runtime, alice.user.id, "two.example")
    with pytest.raises(LimitReached, match="allows 2 domains and you have 2"):
        await try_reserve(runtime, alice.user.id, "domains")
    with pytest.raises(LimitReached, match=r"allows 4 websites \(domains and subdomains\) and you have 4"):
        await try_reserve(runtime, alice.user.id, "websites")


async def test_limits_count_only_the_users_own_objects(
    runtime: Runtime, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob = await make_account("bob")
    plan_id = await make_plan(runtime, max_domains=1, max_mailboxes=1)
    await PlanService(runtime).assign(ADMIN, alice.user.id, plan_id)
    await add_domains(runtime, bob.user.id, "bob1.example", "bob2.example")
    await add_mailboxes(runtime, bob.user.id, [10, 10])
    await try_reserve(runtime, alice.user.id, "domains")
    await try_reserve(runtime, alice.user.id, "mailboxes")


async def test_the_mailbox_and_mail_quota_limits_count_across_all_mail_domains(
    runtime: Runtime, alice: Account
) -> None:
    plan_id = await make_plan(runtime, max_mailboxes=3, max_mail_quota_mb=100)
    await PlanService(runtime).assign(ADMIN, alice.user.id, plan_id)
    await add_mailboxes(runtime, alice.user.id, [40, 50])
    await try_reserve(runtime, alice.user.id, "mailboxes")
    await try_reserve(runtime, alice.user.id, "mail_quota_mb", 10)
    with pytest.raises(LimitReached, match="allows 100 MB of mailbox quota in total and you have 90; this needs 11"):
        await try_reserve(runtime, alice.user.id, "mail_quota_mb", 11)


async def test_under_a_mail_quota_limit_a_mailbox_without_quota_is_refused(runtime: Runtime, alice: Account) -> None:
    plan_id = await make_plan(runtime, max_mail_quota_mb=100)
    await PlanService(runtime).assign(ADMIN, alice.user.id, plan_id)
    with pytest.raises(LimitReached, match="a mailbox needs a quota"):
        await try_reserve(runtime, alice.user.id, "mail_quota_mb", 0)


async def test_the_default_plan_applies_to_users_without_one_and_an_assigned_plan_wins(
    runtime: Runtime, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob = await make_account("bob")
    await make_plan(runtime, "starter", max_domains=1, is_default=True)
    big = await make_plan(runtime, "big", max_domains=10)
    await PlanService(runtime).assign(ADMIN, bob.user.id, big)
    await add_domains(runtime, alice.user.id, "alice.example")
    await add_domains(runtime, bob.user.id, "bob.example")
    with pytest.raises(LimitReached):
        await try_reserve(runtime, alice.user.id, "domains")
    await try_reserve(runtime, bob.user.id, "domains")
    async with runtime.reading() as db:
        alice_usage, bob_usage = await usage(db, alice.user.id), await usage(db, bob.user.id)
    assert (alice_usage.plan_name, alice_usage.assigned) == ("starter", False)
    assert (bob_usage.plan_name, bob_usage.assigned) == ("big", True)


async def test_only_one_plan_is_the_default(runtime: Runtime) -> None:
    first = await make_plan(runtime, "first", is_default=True)
    second = await make_plan(runtime, "second", is_default=True)
    service = PlanService(runtime)
    assert not (await service.get(first)).plan.is_default
    assert (await service.get(second)).plan.is_default
    await service.update(ADMIN, first, {"is_default": True})
    assert [view.plan.name for view in await service.list_plans() if view.plan.is_default] == ["first"]


async def test_assigning_no_plan_puts_the_user_back_on_the_default(runtime: Runtime, alice: Account) -> None:
    await make_plan(runtime, "default", is_default=True)
    other = await make_plan(runtime, "other")
    service = PlanService(runtime)
    assert (await service.assign(ADMIN, alice.user.id, other)).plan_name == "other"
    back = await service.assign(ADMIN, alice.user.id, None)
    assert (back.plan_name, back.assigned) == ("default", False)


async def test_a_plan_in_use_or_the_default_cannot_be_deleted_an_unused_one_can(
    runtime: Runtime, alice: Account
) -> None:
    service = PlanService(runtime)
    used = await make_plan(runtime, "used")
    default = await make_plan(runtime, "default", is_default=True)
    spare = await make_plan(runtime, "spare")
    await service.assign(ADMIN, alice.user.id, used)
    with pytest.raises(Conflict, match="assigned to 1 user"):
        await service.delete(ADMIN, used)
    with pytest.raises(Conflict, match="default plan"):
        await service.delete(ADMIN, default)
    await service.delete(ADMIN, spare)
    with pytest.raises(NotFound):
        await service.get(spare)


async def test_lowering_a_limit_below_the_use_takes_nothing_away_but_refuses_new_creates(
    runtime: Runtime, alice: Account
) -> None:
    plan_id = await make_plan(runtime, max_domains=5)
    service = PlanService(runtime)
    await service.assign(ADMIN, alice.user.id, plan_id)
    await add_domains(runtime, alice.user.id, "a.example", "b.example", "c.example")
    await service.update(ADMIN, plan_id, {"max_domains": 1})
    with pytest.raises(LimitReached, match="allows 1 domains and you have 3"):
        await try_reserve(runtime, alice.user.id, "domains")
    assert (await service.usage_of(alice.user.id)).used["domains"] == 3


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": " "}, "name"),
        ({"name": "bad/name"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"name": "../etc"}, "name"),
        ({"name": "ok", "max_domains": -1}, "max_domains"),
        ({"name": "ok", "max_disk_mb": 2**40}, "max_disk_mb"),
        ({"name": "ok", "max_mailboxes": True}, "max_mailboxes"),
        ({"name": "ok", "features": ["emails", "rm -rf"]}, "features"),
    ],
)
async def test_bad_plan_input_is_refused_with_the_field(runtime: Runtime, values: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await PlanService(runtime).create(ADMIN, **values)
    assert caught.value.fields[0].field == field


async def test_plan_names_are_unique(runtime: Runtime) -> None:
    await make_plan(runtime, "gold")
    with pytest.raises(Conflict):
        await make_plan(runtime, "gold")


async def test_a_plan_lists_only_known_features_each_once(runtime: Runtime) -> None:
    plan_id = await make_plan(runtime, features=["emails", "domains", "emails"])
    assert (await PlanService(runtime).get(plan_id)).plan.features == ["emails", "domains"]


# --- disk --------------------------------------------------------------------------------------------------


def write_file(path: Path, megabytes: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(os.urandom(megabytes * 1024 * 1024))


async def test_disk_use_is_the_users_www_folder_and_the_maildirs_of_their_mail_domains(
    runtime: Runtime, alice: Account, make_account: Callable[..., Any]
) -> None:
    await make_account("bob")
    settings = runtime.settings
    vmail = (settings.mail_dir or settings.state_dir / "mail").absolute() / "vmail"
    await add_mailboxes(runtime, alice.user.id, [])
    write_file(settings.resolved_www_dir / "alice" / "site.example" / "public" / "big.bin", 2)
    write_file(vmail / f"mail{alice.user.id}.example.com" / "box" / "Maildir" / "cur" / "m1", 1)
    write_file(settings.resolved_www_dir / "bob" / "other.example" / "public" / "big.bin", 5)
    write_file(vmail / "someone-else.example" / "box" / "m", 5)
    async with runtime.reading() as db:
        found = await usage(db, alice.user.id, settings=settings)
    assert found.used["disk_mb"] in (3, 4)  # rounded up, plus the folders' own blocks


async def test_disk_use_never_follows_a_symlink(runtime: Runtime, alice: Account, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_file(outside / "huge.bin", 8)
    docroot = runtime.settings.resolved_www_dir / "alice" / "site.example" / "public"
    docroot.mkdir(parents=True)
    (docroot / "link").symlink_to(outside)
    async with runtime.reading() as db:
        assert (await usage(db, alice.user.id, settings=runtime.settings)).used["disk_mb"] <= 1


async def test_at_the_disk_limit_every_create_is_refused(runtime: Runtime, alice: Account) -> None:
    plan_id = await make_plan(runtime, max_disk_mb=3)
    await PlanService(runtime).assign(ADMIN, alice.user.id, plan_id)
    await try_reserve(runtime, alice.user.id, "websites")
    write_file(runtime.settings.resolved_www_dir / "alice" / "site.example" / "public" / "big.bin", 3)
    for resource in ("domains", "websites", "mailboxes"):
        with pytest.raises(LimitReached, match="allows 3 MB of disk space and you use"):
            await try_reserve(runtime, alice.user.id, resource)


async def test_the_disk_measure_is_reused_for_the_configured_time(
    settings_factory: Callable[..., Settings], alice: Account
) -> None:
    from hostplane.runtime import build_runtime

    runtime = build_runtime(settings_factory(plan_disk_cache_seconds=600))
    try:
        plan_id = await make_plan(runtime, max_disk_mb=2)
        await PlanService(runtime).assign(ADMIN, alice.user.id, plan_id)
        (runtime.settings.resolved_www_dir / "alice").mkdir(parents=True)
        await try_reserve(runtime, alice.user.id, "websites")
        write_file(runtime.settings.resolved_www_dir / "alice" / "big.bin", 3)
        await try_reserve(runtime, alice.user.id, "websites")  # still the cached measure
    finally:
        await runtime.close()
