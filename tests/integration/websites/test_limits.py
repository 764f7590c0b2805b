"""Plan limits hold under concurrent creates over the HTTP API (20 at once against a limit of 5: exactly 5
succeed, the others get 409 limit_reached), with the real nginx serving exactly the sites that were created, on
SQLite and PostgreSQL. Mailboxes likewise, with the lookup rows Postfix and Dovecot read."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hostplane.activity.log import Actor
from hostplane.domains.models import Domain
from hostplane.mail.models import Mailbox
from hostplane.plans.service import PlanService
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.mailpaths import MailPaths
from hostplane.system.nginx import NginxDriver
from tests.conftest import PASSWORD, Account, Api
from tests.integration.websites.conftest import free_port

PARALLEL = 20
LIMIT = 5


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], nginx_served: dict[str, Path]) -> Settings:
    return settings_factory(nginx_http_port=free_port(), plan_disk_cache_seconds=0, **nginx_served)


async def put_on_plan(runtime: Runtime, account: Account, **limits: int) -> None:
    service = PlanService(runtime)
    view = await service.create(Actor(None, "test"), name="limited", **limits)
    await service.assign(Actor(None, "test"), account.user.id, view.plan.id)


async def fetch(runtime: Runtime, host: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.settings.nginx_http_port}", timeout=5) as client:
        return await client.get("/", headers={"Host": host})


def outcome(responses: list[httpx.Response]) -> tuple[list[httpx.Response], list[httpx.Response]]:
    created = [response for response in responses if response.status_code == 201]
    refused = [response for response in responses if response.status_code != 201]
    for response in refused:
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "limit_reached"
    return created, refused


async def test_twenty_parallel_domain_creates_against_a_limit_of_five_create_exactly_five_live_sites(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await put_on_plan(runtime, alice, max_domains=LIMIT)
    await user_api.login(alice)
    names = [f"site{index}.example" for index in range(PARALLEL)]
    responses = await asyncio.gather(*(user_api.post("/api/v1/domains", json={"name": name}) for name in names))
    created, refused = outcome(list(responses))
    assert (len(created), len(refused)) == (LIMIT, PARALLEL - LIMIT)
    assert "allows 5 domains" in refused[0].json()["detail"]
    live = {response.json()["name"] for response in created}
    async with runtime.reading() as db:
        assert set(await db.scalars(select(Domain.name))) == live
    for name in names:
        page = await fetch(runtime, name)
        assert page.status_code == (200 if name in live else 404), name
    www = runtime.settings.resolved_www_dir / "alice"
    assert {path.name for path in www.iterdir()} == live  # a refused create leaves no docroot behind


async def test_twenty_parallel_subdomain_creates_against_a_website_limit_of_five_create_exactly_five(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await put_on_plan(runtime, alice, max_websites=LIMIT)
    await user_api.login(alice)
    parent = (await user_api.post("/api/v1/domains", json={"name": "example.com"})).json()
    responses = await asyncio.gather(
        *(
            user_api.post(f"/api/v1/domains/{parent['id']}/subdomains", json={"name": f"sub{index}"})
            for index in range(PARALLEL)
        )
    )
    created, _ = outcome(list(responses))
    assert len(created) == LIMIT - 1  # the main domain is a website too
    async with runtime.reading() as db:
        assert await db.scalar(select(func.count()).select_from(Domain)) == LIMIT
    for response in created:
        assert (await fetch(runtime, response.json()["name"])).status_code == 200


async def create_mailboxes(user_api: Api, quota_mb: int) -> tuple[list[httpx.Response], list[httpx.Response]]:
    domain = await user_api.post("/api/v1/mail/domains", json={"name": "example.org"})
    assert domain.status_code == 201, domain.text
    url = f"/api/v1/mail/domains/{domain.json()['id']}/mailboxes"
    responses = await asyncio.gather(
        *(
            user_api.post(url, json={"local_part": f"box{index}", "password": PASSWORD, "quota_mb": quota_mb})
            for index in range(PARALLEL)
        )
    )
    return outcome(list(responses))


def lookup_addresses(runtime: Runtime, table: str) -> set[str]:
    """Addresses in a lookup table: `users` (Dovecot's logins) or `mailboxes` (Postfix's recipients)."""
    found: set[str] = set()
    for database in MailPaths.from_settings(runtime.settings).lookup.glob("*.db"):
        with sqlite3.connect(database) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if table in tables:
                found |= {row[0] for row in connection.execute(f"SELECT address FROM {table}")}
    return found


async def test_twenty_parallel_mailbox_creates_against_a_limit_of_five_create_exactly_five(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await put_on_plan(runtime, alice, max_mailboxes=LIMIT)
    await user_api.login(alice)
    created, refused = await create_mailboxes(user_api, quota_mb=10)
    assert (len(created), len(refused)) == (LIMIT, PARALLEL - LIMIT)
    assert "allows 5 mailboxes" in refused[0].json()["detail"]
    addresses = {f"{response.json()['local_part']}@example.org" for response in created}
    async with runtime.reading() as db:
        assert await db.scalar(select(func.count()).select_from(Mailbox)) == LIMIT
    # no refused mailbox left a lookup row: Dovecot logs in and Postfix delivers exactly the five
    assert lookup_addresses(runtime, "users") == addresses
    assert lookup_addresses(runtime, "mailboxes") == addresses


async def test_twenty_parallel_mailboxes_of_100_mb_against_a_500_mb_mail_quota_create_exactly_five(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await put_on_plan(runtime, alice, max_mail_quota_mb=500)
    await user_api.login(alice)
    created, refused = await create_mailboxes(user_api, quota_mb=100)
    assert (len(created), len(refused)) == (LIMIT, PARALLEL - LIMIT)
    assert "500 MB of mailbox quota" in refused[0].json()["detail"]


async def test_once_the_disk_limit_is_reached_new_sites_and_mailboxes_are_refused(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await put_on_plan(runtime, alice, max_disk_mb=2)
    await user_api.login(alice)
    first = await user_api.post("/api/v1/domains", json={"name": "example.com"})
    assert first.status_code == 201
    mail = await user_api.post("/api/v1/mail/domains", json={"name": "example.net"})
    assert mail.status_code == 201
    docroot = first.json()["docroot"]
    (Path(docroot) / "video.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MB
    refused: list[Any] = [
        await user_api.post("/api/v1/domains", json={"name": "example.org"}),
        await user_api.post(f"/api/v1/domains/{first.json()['id']}/subdomains", json={"name": "www"}),
        await user_api.post("/api/v1/mail/domains", json={"name": "example.info"}),
        await user_api.post(
            f"/api/v1/mail/domains/{mail.json()['id']}/mailboxes",
            json={"local_part": "info", "password": PASSWORD, "quota_mb": 1},
        ),
    ]
    for response in refused:
        assert response.status_code == 409, response.text
        assert "MB of disk space" in response.json()["detail"]
    assert (await fetch(runtime, "example.org")).status_code == 404
    assert (await fetch(runtime, "example.com")).status_code == 200
