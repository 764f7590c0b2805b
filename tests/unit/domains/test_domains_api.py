"""/api/v1/domains: owner-scoped domains and subdomains, strict names, and the vhost written (and checked with the
real `nginx -t`) as part of the same unit of work. No nginx runs here: the integration tests serve the sites."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hostplane.domains.models import Domain
from hostplane.runtime import Runtime
from hostplane.system.nginx import NginxDriver, vhost_file
from tests.conftest import Account, Api


def live_files(runtime: Runtime) -> dict[str, str]:
    live = NginxDriver.from_settings(runtime.settings).live_generation()
    if live is None:
        return {}
    return {str(path.relative_to(live)): path.read_text() for path in sorted(live.rglob("*")) if path.is_file()}


async def domain_count(runtime: Runtime) -> int:
    async with runtime.reading() as db:
        return int(await db.scalar(select(func.count()).select_from(Domain)) or 0)


async def add(api: Api, name: str) -> dict[str, Any]:
    response = await api.post("/api/v1/domains", json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("bob")
    return account


async def test_adding_a_domain_answers_201_with_the_normalised_name(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    body = await add(user_api, "Bücher.DE.")
    assert body["name"] == "xn--bcher-kva.de"
    assert body["unicode_name"] == "bücher.de"
    assert body["kind"] == "domain"
    assert body["parent_id"] is None


async def test_a_new_domain_gets_a_world_readable_docroot_with_a_default_page_naming_it(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    body = await add(user_api, "example.com")
    docroot = Path(body["docroot"])
    assert docroot == runtime.settings.resolved_www_dir / "alice" / "example.com" / "public"
    assert "example.com" in (docroot / "index.html").read_text()
    assert (docroot / "index.html").stat().st_mode & 0o777 == 0o644
    assert os.stat(docroot).st_mode & 0o777 == 0o755


async def test_a_new_domain_has_its_vhost_in_the_live_configuration(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    body = await add(user_api, "example.com")
    vhost = live_files(runtime)[vhost_file("example.com")]
    assert "server_name example.com;" in vhost
    assert f'root "{body["docroot"]}";' in vhost


async def test_a_domain_that_exists_is_409_whoever_owns_it_and_however_it_is_written(
    user_api: Api, alice: Account, bob: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await add(user_api, "bücher.de")
    again = await user_api.post("/api/v1/domains", json={"name": "XN--BCHER-KVA.DE"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "conflict"
    assert again.json()["detail"] == "This domain already exists."
    as_bob = user_api.from_peer("203.0.113.8")
    await as_bob.login(bob)
    taken = await as_bob.post("/api/v1/domains", json={"name": "Bücher.de"})
    assert taken.status_code == 409
    assert taken.json()["detail"] == "This domain name is not available."  # the owner is not named
    assert await domain_count(runtime) == 1


async def test_another_users_domain_is_404_for_every_operation(
    user_api: Api, alice: Account, bob: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain_id = (await add(user_api, "example.com"))["id"]
    as_bob = user_api.from_peer("203.0.113.8")
    await as_bob.login(bob)
    assert (await as_bob.get(f"/api/v1/domains/{domain_id}")).status_code == 404
    assert (await as_bob.delete(f"/api/v1/domains/{domain_id}")).status_code == 404
    sub = await as_bob.post(f"/api/v1/domains/{domain_id}/subdomains", json={"name": "shop"})
    assert sub.status_code == 404
    assert sub.headers["content-type"] == "application/problem+json"
    assert (await as_bob.get("/api/v1/domains")).json() == []
    assert await domain_count(runtime) == 1
    assert vhost_file("shop.example.com") not in live_files(runtime)


async def test_a_user_lists_only_their_own_domains_by_name(user_api: Api, alice: Account, bob: Account) -> None:
    await user_api.login(alice)
    await add(user_api, "zeta.test")
    await add(user_api, "alpha.test")
    as_bob = user_api.from_peer("203.0.113.8")
    await as_bob.login(bob)
    await add(as_bob, "bob.test")
    listed = (await user_api.get("/api/v1/domains")).json()
    assert [item["name"] for item in listed] == ["alpha.test", "zeta.test"]


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc",
        "example.com/../../etc/passwd",
        "example.com\r\nX-Injected: 1",
        "example.com;\n    root /etc",
        "example.com { }",
        "*.example.com",
        "$host.example.com",
        "a" * 64 + ".com",
        "localhost",
    ],
)
async def test_a_bad_name_is_422_and_touches_no_config_and_no_folder(
    user_api: Api, alice: Account, runtime: Runtime, bad: str
) -> None:
    await user_api.login(alice)
    await add(user_api, "existing.test")
    before = live_files(runtime)
    www = runtime.settings.resolved_www_dir
    folders_before = sorted(os.walk(www))
    response = await user_api.post("/api/v1/domains", json={"name": bad})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "name"
    assert live_files(runtime) == before
    assert sorted(os.walk(www)) == folders_before
    assert await domain_count(runtime) == 1


async def test_an_overlong_name_is_refused_by_the_request_schema(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.post("/api/v1/domains", json={"name": "a" * 301 + ".com"})
    assert response.status_code == 422


async def test_a_subdomain_is_added_under_ones_own_domain_with_its_own_docroot(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    parent = await add(user_api, "example.com")
    response = await user_api.post(f"/api/v1/domains/{parent['id']}/subdomains", json={"name": "Blog"})
    assert response.status_code == 201, response.text
    sub = response.json()
    assert (sub["name"], sub["kind"], sub["parent_id"]) == ("blog.example.com", "subdomain", parent["id"])
    assert sub["docroot"].endswith("/alice/blog.example.com/public")
    assert "server_name blog.example.com;" in live_files(runtime)[vhost_file("blog.example.com")]


@pytest.mark.parametrize("bad", ["", ".", "../x", "a/b", "a..b", "-x", "x\r\n", "*", "a b"])
async def test_a_bad_subdomain_is_422(user_api: Api, alice: Account, runtime: Runtime, bad: str) -> None:
    await user_api.login(alice)
    parent = await add(user_api, "example.com")
    response = await user_api.post(f"/api/v1/domains/{parent['id']}/subdomains", json={"name": bad})
    assert response.status_code == 422
    assert await domain_count(runtime) == 1


async def test_a_subdomain_goes_under_a_main_domain_not_under_another_subdomain(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    parent = await add(user_api, "example.com")
    sub = (await user_api.post(f"/api/v1/domains/{parent['id']}/subdomains", json={"name": "blog"})).json()
    nested = await user_api.post(f"/api/v1/domains/{sub['id']}/subdomains", json={"name": "x"})
    assert nested.status_code == 422
    deeper = await user_api.post(f"/api/v1/domains/{parent['id']}/subdomains", json={"name": "x.blog"})
    assert deeper.status_code == 201
    assert deeper.json()["name"] == "x.blog.example.com"


async def test_deleting_a_domain_removes_it_its_subdomains_and_their_vhosts_but_keeps_the_files(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    parent = await add(user_api, "example.com")
    sub = (await user_api.post(f"/api/v1/domains/{parent['id']}/subdomains", json={"name": "blog"})).json()
    keep = await add(user_api, "other.test")
    response = await user_api.delete(f"/api/v1/domains/{parent['id']}")
    assert response.status_code == 204
    assert (await user_api.get(f"/api/v1/domains/{sub['id']}")).status_code == 404
    assert [item["id"] for item in (await user_api.get("/api/v1/domains")).json()] == [keep["id"]]
    files = live_files(runtime)
    assert vhost_file("example.com") not in files
    assert vhost_file("blog.example.com") not in files
    assert vhost_file("other.test") in files
    assert (Path(parent["docroot"]) / "index.html").exists()


async def test_an_api_key_without_a_domains_scope_cannot_add_a_domain(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    created = await user_api.post(
        "/api/v1/account/api-keys", json={"description": "read only", "scopes": ["domains:read"]}
    )
    assert created.status_code == 201, created.text
    key = created.json()["token"]
    assert (await user_api.get("/api/v1/domains", token=key)).status_code == 200
    assert (await user_api.post("/api/v1/domains", token=key, json={"name": "example.com"})).status_code == 403
    assert await domain_count(runtime) == 0


async def test_the_domain_routes_are_documented_on_both_ports_like_every_native_user_route(
    user_api: Api, admin_api: Api
) -> None:
    for api in (user_api, admin_api):
        paths = (await api.get("/openapi.json")).json()["paths"]
        assert {"get", "post"} <= set(paths["/api/v1/domains"])
        assert {"get", "delete"} <= set(paths["/api/v1/domains/{domain_id}"])
        assert "post" in paths["/api/v1/domains/{domain_id}/subdomains"]
        assert set(paths["/api/v1/domains"]["post"]["responses"]) >= {"201", "409", "422", "502"}
