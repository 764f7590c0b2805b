"""With Linux accounts managed (as root), a hosting user's docroots and default pages belong to their hp-<name>
account, which is created when needed; the site is still served by nginx; ownership never goes through a
symbolic link. The Linux accounts and their homes are removed at the end."""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostplane.domains.service import DomainService
from hostplane.domains.websites import Websites
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.nginx import NginxDriver
from hostplane.system.ssh import linux_name
from tests.conftest import Account, Api
from tests.integration.linux_accounts import scratch_home_root, unique_panel_username
from tests.integration.websites.conftest import free_port


@pytest.fixture
def home_root() -> Iterator[Path]:
    with scratch_home_root() as home:
        yield home


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], home_root: Path, nginx_served: dict[str, Path]) -> Settings:
    return settings_factory(
        nginx_http_port=free_port(), manage_system_users=True, system_users_home=home_root, **nginx_served
    )


@pytest.fixture
def username() -> Iterator[str]:
    with unique_panel_username("d") as name:
        yield name


@pytest.fixture
async def hosting_user(make_account: Callable[..., Any], username: str) -> Account:
    account: Account = await make_account(username)
    return account


def owner_uid(path: Path) -> int:
    return os.lstat(path).st_uid


async def fetch(runtime: Runtime, host: str, path: str = "/") -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.settings.nginx_http_port}", timeout=5) as client:
        return await client.get(path, headers={"Host": host})


async def test_the_docroot_and_its_default_page_belong_to_the_users_linux_account_and_are_served(
    nginx: NginxDriver, user_api: Api, hosting_user: Account, runtime: Runtime
) -> None:
    entry = pwd.getpwnam(linux_name(hosting_user.username))
    await user_api.login(hosting_user)
    response = await user_api.post("/api/v1/domains", json={"name": "owned.example"})
    assert response.status_code == 201, response.text
    docroot = Path(response.json()["docroot"])
    assert (owner_uid(docroot), os.lstat(docroot).st_gid) == (entry.pw_uid, entry.pw_gid)
    assert owner_uid(docroot / "index.html") == entry.pw_uid
    assert owner_uid(docroot.parent) == 0  # the folders above stay root's: the user cannot swap them for links
    assert owner_uid(docroot.parent.parent) == 0
    page = await fetch(runtime, "owned.example")
    assert page.status_code == 200
    assert "<h1>owned.example</h1>" in page.text


async def test_the_linux_account_is_created_when_missing(
    nginx: NginxDriver, user_api: Api, hosting_user: Account, runtime: Runtime
) -> None:
    await runtime.system_users.remove_user(hosting_user.username)
    with pytest.raises(KeyError):
        pwd.getpwnam(linux_name(hosting_user.username))
    await user_api.login(hosting_user)
    response = await user_api.post("/api/v1/domains", json={"name": "again.example"})
    assert response.status_code == 201, response.text
    entry = pwd.getpwnam(linux_name(hosting_user.username))
    assert owner_uid(Path(response.json()["docroot"])) == entry.pw_uid
    assert (await fetch(runtime, "again.example")).status_code == 200


async def test_a_subdomain_docroot_belongs_to_the_user_too(
    nginx: NginxDriver, user_api: Api, hosting_user: Account, runtime: Runtime
) -> None:
    uid = pwd.getpwnam(linux_name(hosting_user.username)).pw_uid
    await user_api.login(hosting_user)
    parent = (await user_api.post("/api/v1/domains", json={"name": "parent.example"})).json()
    sub = await user_api.post(f"/api/v1/domains/{parent['id']}/subdomains", json={"name": "blog"})
    assert sub.status_code == 201, sub.text
    assert owner_uid(Path(sub.json()["docroot"]) / "index.html") == uid
    assert (await fetch(runtime, "blog.parent.example")).status_code == 200


async def test_a_docroot_planted_as_a_symlink_is_refused_and_its_target_keeps_its_owner(
    nginx: NginxDriver, user_api: Api, hosting_user: Account, runtime: Runtime, tmp_path: Path
) -> None:
    target = tmp_path / "not-yours"
    target.mkdir()
    folder = runtime.settings.resolved_www_dir / hosting_user.username / "planted.example"
    folder.mkdir(parents=True)
    (folder / "public").symlink_to(target)
    await user_api.login(hosting_user)
    response = await user_api.post("/api/v1/domains", json={"name": "planted.example"})
    assert response.status_code == 422, response.text
    assert owner_uid(target) == 0
    assert list(target.iterdir()) == []
    assert (await fetch(runtime, "planted.example")).status_code == 404


async def test_reconcile_puts_a_removed_docroot_back_owned_by_the_user(
    nginx: NginxDriver, user_api: Api, hosting_user: Account, runtime: Runtime
) -> None:
    uid = pwd.getpwnam(linux_name(hosting_user.username)).pw_uid
    await user_api.login(hosting_user)
    docroot = Path((await user_api.post("/api/v1/domains", json={"name": "fixed.example"})).json()["docroot"])
    shutil.rmtree(docroot)
    await DomainService(runtime, Websites(runtime, nginx)).reconcile()
    assert owner_uid(docroot) == uid
    assert owner_uid(docroot / "index.html") == uid
    assert (await fetch(runtime, "fixed.example")).status_code == 200


async def test_an_administrators_docroot_stays_roots(
    nginx: NginxDriver, user_api: Api, make_account: Callable[..., Any], runtime: Runtime, username: str
) -> None:
    admin: Account = await make_account(username, role="admin")
    await user_api.login(admin)
    response = await user_api.post("/api/v1/domains", json={"name": "admin.example"})
    assert response.status_code == 201, response.text
    assert owner_uid(Path(response.json()["docroot"])) == 0
    with pytest.raises(KeyError):
        pwd.getpwnam(linux_name(username))
