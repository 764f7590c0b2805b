"""Shared fixtures: a migrated database per test (SQLite, and PostgreSQL when configured), the runtime, the two
apps and HTTP clients that talk to them in-process with a chosen peer address.

PostgreSQL runs when HOSTPLANE_TEST_POSTGRES_URL points at a server (make test starts one). In CI it must.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select, text

from hostplane import migrate
from hostplane.activity.log import Actor
from hostplane.activity.models import ActivityEntry
from hostplane.app import Role, create_app
from hostplane.auth.models import ROLE_ADMIN, ROLE_USER, User
from hostplane.clock import ManualClock
from hostplane.keys import new_key_file_content
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from hostplane.system import fake
from hostplane.users.service import UserAdminService

POSTGRES_URL = os.environ.get("HOSTPLANE_TEST_POSTGRES_URL")
if os.environ.get("CI") and not POSTGRES_URL:
    raise RuntimeError("CI must run the database tests on PostgreSQL too: set HOSTPLANE_TEST_POSTGRES_URL (make test)")

BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
TESTS = Path(__file__).parent
KINDS = ("unit", "integration", "browser", "fuzz")
"""Every test is exactly one kind: `integration` (real services: the tests in tests/integration, and any test
marked so where it is, e.g. one that launches `hostplane serve`), `browser` (tests/browser: a real Chromium),
`fuzz` (the generated-input run of tests/fuzz: in-process but long), or `unit` (everything else: in-process, no
daemon, quick; `make unit` runs them)."""
PASSWORD = "Tr0ub4dor&3-horse-staple"
PEER = "203.0.113.7"
TEMPLATE_DB = f"hp_template_{uuid.uuid4().hex[:8]}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its kind (see KINDS): by an explicit marker, else by its top folder, else `unit`."""
    for item in items:
        if any(item.get_closest_marker(kind) for kind in KINDS):
            continue
        try:
            top = item.path.relative_to(TESTS).parts[0]
        except ValueError:
            top = ""
        item.add_marker(top if top in ("integration", "browser") else "unit")


def _pg_admin_url(database: str = "postgres") -> str:
    """The configured server's URL with another database name."""
    assert POSTGRES_URL
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{database}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _pg_execute(statements: list[str]) -> None:
    """Run statements outside a transaction on the maintenance database (CREATE/DROP DATABASE)."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    _pg_execute([f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"', f'CREATE DATABASE "{TEMPLATE_DB}"'])
    migrate.upgrade(_pg_admin_url(TEMPLATE_DB))
    yield TEMPLATE_DB
    _pg_execute([f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"'])


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database for one test, copied from a template migrated once per run."""
    if request.param == "sqlite":
        target = tmp_path / "hostplane.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"hp_test_{uuid.uuid4().hex[:12]}"
    _pg_execute([f'CREATE DATABASE "{name}" TEMPLATE "{template}"'])
    yield _pg_admin_url(name)
    _pg_execute([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


@pytest.fixture(scope="session")
def dkim_safe_root() -> Iterator[Path]:
    """Where default DKIM key folders go for this run when a state folder (under /tmp here) cannot hold them: a
    root-owned 0755 folder under /run, removed at the end, instead of /var/lib/hostplane (system/opendkim.py)."""
    root = Path(tempfile.mkdtemp(prefix="hp-keys-", dir="/run" if os.geteuid() == 0 else None))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def settings_factory(tmp_path: Path, database_url: str, dkim_safe_root: Path) -> Callable[..., Settings]:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    key_file = state / "secret.key"
    if not key_file.exists():
        key_file.write_bytes(new_key_file_content())

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "state_dir": state,
            "database_url": database_url,
            "plain_http": True,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "manage_system_users": False,  # no Linux accounts unless a test asks (tests/integration/ssh)
            "dkim_safe_root": dkim_safe_root,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
def clock() -> ManualClock:
    """The clock of the test's runtime: it stands at the moment the test began and moves only when the test says
    so (`clock.advance(seconds)`), so no test waits for a TOTP step, an idle timeout or a throttle window."""
    return ManualClock()


@pytest.fixture
async def runtime(settings: Settings, clock: ManualClock) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture
def fake_drivers(runtime: Runtime) -> fake.FakeDrivers:
    """Every driver of the runtime replaced by its in-memory fake (system/fake.py): the services run their real
    rules and transactions, but no nginx, lookup file, key file or folder is touched. Tell a fake to fail
    (`fake_drivers.websites.refuse_next()`, `fake_drivers.mail_lookup.fail_on`, ...) to test a rollback path."""
    drivers = fake.fake_drivers(runtime.settings)
    runtime.drivers = drivers
    return drivers


@dataclass
class Account:
    """A user made for a test, with its password and helpers to log in."""

    user: User
    password: str

    @property
    def username(self) -> str:
        return self.user.username


@pytest.fixture
def make_account(runtime: Runtime) -> Callable[..., Any]:
    async def make(username: str = "alice", *, role: str = ROLE_USER, password: str = PASSWORD) -> Account:
        user = await UserAdminService(runtime).create_user(
            Actor(None, "test"), username=username, email=f"{username}@example.com", password=password, role=role
        )
        return Account(user=user, password=password)

    return make


@pytest.fixture
async def alice(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("alice")
    return account


@pytest.fixture
async def admin(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("root", role=ROLE_ADMIN)
    return account


class Api:
    """An in-process HTTP client for one port, with the peer address chosen per client."""

    def __init__(self, app: Any, peer: str = PEER) -> None:
        self.app = app
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(peer, 40000)), base_url="http://testserver"
        )
        self.token: str | None = None

    @property
    def clock(self) -> ManualClock:
        """The clock of the panel behind this client (the test's `clock` fixture)."""
        clock = self.app.state.runtime.clock
        assert isinstance(clock, ManualClock)
        return clock

    def from_peer(self, peer: str) -> Api:
        other = Api(self.app, peer)
        other.token = self.token
        return other

    def _headers(self, headers: dict[str, str] | None, token: str | None) -> dict[str, str]:
        merged = dict(headers or {})
        bearer = token or self.token
        if bearer and "authorization" not in {k.lower() for k in merged}:
            merged["Authorization"] = f"Bearer {bearer}"
        return merged

    async def request(
        self, method: str, url: str, *, token: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.http.request(method, url, headers=self._headers(headers, token), **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)

    async def login(self, account: Account, password: str | None = None) -> str:
        """Log in with the password (no 2FA) and remember the token for later calls."""
        response = await self.post(
            "/api/v1/auth/login", json={"username": account.username, "password": password or account.password}
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["token"]
        return self.token

    async def aclose(self) -> None:
        await self.http.aclose()


_apps: dict[tuple[str, str], FastAPI] = {}


def app_for(runtime: Runtime, role: Role) -> FastAPI:
    """The app of a port, serving this test's runtime. An app keeps nothing of its own between requests but
    `state.runtime` (every request reads its runtime there; production serves every request with one app), while
    the state of its routes, built at their first match, costs more CPU than most tests: so one app per role and
    settings (all but the per-test folder and database) serves every test, pointed at the test's runtime."""
    key = (role, runtime.settings.model_dump_json(exclude={"state_dir", "database_url"}))
    app = _apps.get(key)
    if app is None:
        app = _apps[key] = create_app(runtime, role)
    app.state.runtime = runtime
    return app


@pytest.fixture
async def user_api(runtime: Runtime) -> AsyncIterator[Api]:
    api = Api(app_for(runtime, "user"))
    yield api
    await api.aclose()


@pytest.fixture
async def admin_api(runtime: Runtime) -> AsyncIterator[Api]:
    api = Api(app_for(runtime, "admin"))
    yield api
    await api.aclose()


async def activity_events(runtime: Runtime, user_id: int, event: str) -> list[ActivityEntry]:
    """The activity entries of one kind about one user, oldest first."""
    async with runtime.reading() as db:
        rows = await db.scalars(
            select(ActivityEntry)
            .where(ActivityEntry.user_id == user_id, ActivityEntry.event == event)
            .order_by(ActivityEntry.id)
        )
        return list(rows)


@pytest.fixture
def argon2_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every stored hash argon2 verifies against from now on, in order (the real verify still runs)."""
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self: PasswordHasher, stored: str | bytes, password: str | bytes) -> bool:
        verified.append(str(stored))
        return real_verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    return verified


def oathtool(secret: str, at: dt.datetime | None = None) -> str:
    """The TOTP code as Debian's oathtool computes it from the secret, now or at a given time (a test's clock)."""
    when = ["--now", at.strftime("%Y-%m-%d %H:%M:%S UTC")] if at is not None else []
    result = subprocess.run(
        ["oathtool", "--totp", "-b", *when, secret],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    )
    return result.stdout.strip()


async def row_counts(runtime: Runtime) -> dict[str, int]:
    """The number of rows of every table: a refused request must leave all of them as they were."""
    from sqlalchemy import func

    from hostplane.db import Base

    async with runtime.reading() as db:
        return {
            table.name: int(await db.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }
