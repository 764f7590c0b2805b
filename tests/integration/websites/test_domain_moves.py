"""An admin's move of a domain on a real nginx, with the hosting users' Linux accounts managed (as root): the site
is served from the new owner's folder right after the call, its files belong to the new owner's Linux account
(never through a link), the old owner gets 404 for it, and a failed move leaves the site served as before, files
and owners included. The Linux accounts and their homes are removed at the end."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system import nginx as nginx_module
from hostplane.system.nginx import NginxDriver, Site
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
def names() -> Iterator[tuple[str, str]]:
    with unique_panel_username("m") as first, unique_panel_username("n") as second:
        yield first, second


@pytest.fixture
async def owners(make_account: Callable[..., Any], names: tuple[str, str]) -> tuple[Account, Account]:
    return await make_account(names[0]), await make_account(names[1])


async def fetch(runtime: Runtime, host: str, path: str = "/") -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.settings.nginx_http_port}", timeout=5) as client:
        return await client.get(path, headers={"Host": host})


def ids(username: str) -> tuple[int, int]:
    entry = pwd.getpwnam(linux_name(username))
    return entry.pw_uid, entry.pw_gid


def owner_of(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid


async def login(api: Api, account: Account, peer: str) -> Api:
    other = api.from_peer(peer)
    await other.login(account)
    return other


@pytest.fixture
async def site(user_api: Api, owners: tuple[Account, Account], tmp_path: Path) -> dict[str, Any]:
    """The first owner's example.test with www.example.test, an uploaded page, a sub-folder, a link to a file
    outside (whose owner must not change) and a file of root's in the docroot."""
    first, _second = owners
    await user_api.login(first)
    main = (await user_api.post("/api/v1/domains", json={"name": "example.test"})).json()
    sub = await user_api.post(f"/api/v1/domains/{main['id']}/subdomains", json={"name": "www"})
    assert sub.status_code == 201, sub.text
    docroot = Path(main["docroot"])
    uid, gid = ids(first.username)
    (docroot / "assets").mkdir()
    (docroot / "assets" / "page.txt").write_text("the first owner's page\n")
    for path in (docroot / "assets", docroot / "assets" / "page.txt"):
        os.chown(path, uid, gid)
        path.chmod(0o755 if path.is_dir() else 0o644)
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the site\n")
    os.chown(outside, uid, gid)
    (docroot / "link.txt").symlink_to(outside)
    os.lchown(docroot / "link.txt", uid, gid)
    (docroot / "roots.txt").write_text("root's own file\n")
    return {"main": main, "docroot": docroot, "outside": outside}


async def test_the_site_is_served_from_the_new_owners_folder_with_its_files_owned_by_the_new_owner(
    nginx: NginxDriver,
    user_api: Api,
    admin_api: Api,
    admin: Account,
    owners: tuple[Account, Account],
    site: dict[str, Any],
    runtime: Runtime,
) -> None:
    first, second = owners
    first_ids = ids(first.username)
    assert (await fetch(runtime, "example.test", "/assets/page.txt")).text == "the first owner's page\n"
    await admin_api.login(admin)
    moved = await admin_api.post(f"/api/v1/admin/domains/{site['main']['id']}/move", json={"user_id": second.user.id})
    assert moved.status_code == 200, moved.text
    assert moved.json()["websites"] == ["example.test", "www.example.test"]

    new_ids = ids(second.username)  # created for the move when missing
    www = runtime.settings.resolved_www_dir
    docroot = www / second.username / "example.test" / "public"
    served = await fetch(runtime, "example.test", "/assets/page.txt")
    assert (served.status_code, served.text) == (200, "the first owner's page\n")
    assert (await fetch(runtime, "www.example.test")).status_code == 200
    assert not (www / first.username / "example.test").exists()
    for path in (docroot, docroot / "index.html", docroot / "assets", docroot / "assets" / "page.txt"):
        assert owner_of(path) == new_ids, path
    assert owner_of(docroot / "link.txt") == new_ids  # the link itself...
    assert owner_of(site["outside"]) == first_ids  # ...never what it points to
    assert owner_of(docroot / "roots.txt") == (0, 0)  # not the first owner's: left alone
    assert owner_of(docroot.parent) == (0, 0)  # the folders above stay root's
    assert owner_of(docroot.parent.parent) == (0, 0)

    as_first = await login(user_api, first, "203.0.113.21")
    assert (await as_first.get(f"/api/v1/domains/{site['main']['id']}")).status_code == 404
    as_second = await login(user_api, second, "203.0.113.22")
    assert (await as_second.get(f"/api/v1/domains/{site['main']['id']}")).json()["docroot"] == str(docroot)


async def test_a_move_nginx_refuses_leaves_the_site_served_from_the_old_folder_with_its_owners(
    nginx: NginxDriver,
    admin_api: Api,
    admin: Account,
    owners: tuple[Account, Account],
    site: dict[str, Any],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = owners
    first_ids = ids(first.username)
    docroot: Path = site["docroot"]
    live_before = nginx.live_generation()

    def broken_vhost(site: Site, listen: tuple[str, ...], acme_webroot: Path) -> str:
        return f"server {{ listen {listen[0]}; server_name {site.name}; no_such_directive on; }}\n"

    monkeypatch.setattr(nginx_module, "render_vhost", broken_vhost)
    await admin_api.login(admin)
    moved = await admin_api.post(f"/api/v1/admin/domains/{site['main']['id']}/move", json={"user_id": second.user.id})
    assert moved.status_code == 502, moved.text
    monkeypatch.undo()
    assert nginx.live_generation() == live_before
    for path in (docroot, docroot / "index.html", docroot / "assets" / "page.txt", docroot / "link.txt"):
        assert owner_of(path) == first_ids, path
    assert owner_of(docroot / "roots.txt") == (0, 0)
    assert not (runtime.settings.resolved_www_dir / second.username / "example.test").exists()
    served = await fetch(runtime, "example.test", "/assets/page.txt")
    assert (served.status_code, served.text) == (200, "the first owner's page\n")


async def test_the_new_owners_limits_refuse_a_move_that_would_pass_its_disk(
    nginx: NginxDriver,
    admin_api: Api,
    admin: Account,
    owners: tuple[Account, Account],
    site: dict[str, Any],
    runtime: Runtime,
) -> None:
    _first, second = owners
    docroot: Path = site["docroot"]
    (docroot / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    await admin_api.login(admin)
    plan = await admin_api.post("/api/v1/admin/plans", json={"name": "tiny", "max_disk_mb": 2})
    assert plan.status_code == 201, plan.text
    assigned = await admin_api.put(f"/api/v1/admin/users/{second.user.id}/plan", json={"plan_id": plan.json()["id"]})
    assert assigned.status_code == 200, assigned.text
    moved = await admin_api.post(f"/api/v1/admin/domains/{site['main']['id']}/move", json={"user_id": second.user.id})
    assert moved.status_code == 409, moved.text
    assert moved.json()["code"] == "limit_reached"
    assert "MB of disk space" in moved.json()["detail"]
    assert (docroot / "big.bin").exists()
    assert (await fetch(runtime, "example.test")).status_code == 200
