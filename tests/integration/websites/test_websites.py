"""Websites on a real nginx, checked as a user would: an HTTP request with the site's Host header."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hostplane.domains.models import Domain
from hostplane.domains.service import DomainService
from hostplane.domains.websites import Websites
from hostplane.errors import ServiceFailed
from hostplane.runtime import Runtime
from hostplane.system import nginx as nginx_module
from hostplane.system.nginx import NginxDriver, Site, vhost_file
from tests.conftest import Account, Api


async def fetch(runtime: Runtime, host: str, path: str = "/") -> httpx.Response:
    port = runtime.settings.nginx_http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        return await client.get(path, headers={"Host": host})


async def add(api: Api, name: str) -> dict[str, Any]:
    response = await api.post("/api/v1/domains", json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def domain_names(runtime: Runtime) -> list[str]:
    async with runtime.reading() as db:
        return list(await db.scalars(select(Domain.name).order_by(Domain.name)))


async def test_a_new_domain_is_served_with_its_default_page_right_after_the_call(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    assert (await fetch(runtime, "example.com")).status_code == 404
    await add(user_api, "example.com")
    response = await fetch(runtime, "example.com")
    assert response.status_code == 200
    assert "<h1>example.com</h1>" in response.text


async def test_the_docroot_content_is_what_the_site_serves(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    docroot = Path((await add(user_api, "example.com"))["docroot"])
    (docroot / "hello.txt").write_text("uploaded by alice\n")
    (docroot / "hello.txt").chmod(0o644)
    response = await fetch(runtime, "EXAMPLE.COM", "/hello.txt")
    assert response.status_code == 200
    assert response.text == "uploaded by alice\n"
    assert response.headers["content-type"].startswith("text/plain")


async def test_an_unknown_host_gets_the_catch_all_404_never_a_customers_site(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await add(user_api, "example.com")
    for host in ("unknown.test", "www.example.com", "127.0.0.1", "example.com.evil.test"):
        response = await fetch(runtime, host)
        assert response.status_code == 404, host
        assert "example.com" not in response.text


async def test_a_request_without_a_host_header_gets_the_catch_all(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await add(user_api, "example.com")
    with socket.create_connection(("127.0.0.1", runtime.settings.nginx_http_port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 404")
    assert b"example.com" not in answer


async def test_a_subdomain_is_served_from_its_own_docroot(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    parent = await add(user_api, "example.com")
    response = await user_api.post(f"/api/v1/domains/{parent['id']}/subdomains", json={"name": "blog"})
    assert response.status_code == 201, response.text
    blog = await fetch(runtime, "blog.example.com")
    assert blog.status_code == 200
    assert "<h1>blog.example.com</h1>" in blog.text
    assert "<h1>example.com</h1>" in (await fetch(runtime, "example.com")).text


async def test_each_users_site_serves_only_its_own_docroot(
    nginx: NginxDriver, user_api: Api, alice: Account, bob: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await add(user_api, "alice.test")
    as_bob = user_api.from_peer("203.0.113.8")
    await as_bob.login(bob)
    await add(as_bob, "bob.test")
    assert "<h1>alice.test</h1>" in (await fetch(runtime, "alice.test")).text
    assert "<h1>bob.test</h1>" in (await fetch(runtime, "bob.test")).text


async def test_a_deleted_domain_is_no_longer_served(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain = await add(user_api, "example.com")
    await add(user_api, "other.test")
    assert (await user_api.delete(f"/api/v1/domains/{domain['id']}")).status_code == 204
    assert (await fetch(runtime, "example.com")).status_code == 404
    assert (await fetch(runtime, "other.test")).status_code == 200


async def test_the_acme_challenge_path_is_served_on_every_site(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await add(user_api, "example.com")
    await add(user_api, "other.test")
    challenge = runtime.settings.resolved_acme_webroot / ".well-known" / "acme-challenge" / "token-123"
    challenge.write_text("token-123.thumbprint")
    challenge.chmod(0o644)
    for host in ("example.com", "other.test"):
        response = await fetch(runtime, host, "/.well-known/acme-challenge/token-123")
        assert response.status_code == 200
        assert response.text == "token-123.thumbprint"
    assert (await fetch(runtime, "example.com", "/.well-known/acme-challenge/missing")).status_code == 404


async def test_a_configuration_nginx_refuses_is_an_error_and_changes_nothing(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await user_api.login(alice)
    await add(user_api, "example.com")
    live_before = nginx.live_generation()

    def broken_vhost(site: Site, listen: tuple[str, ...], acme_webroot: Path) -> str:
        return f"server {{ listen {listen[0]}; server_name {site.name}; no_such_directive on; }}\n"

    monkeypatch.setattr(nginx_module, "render_vhost", broken_vhost)
    response = await user_api.post("/api/v1/domains", json={"name": "broken.test"})
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service_config_rejected"
    assert "nginx -t" in response.json()["detail"]
    assert await domain_names(runtime) == ["example.com"]
    assert nginx.live_generation() == live_before
    assert not (runtime.settings.resolved_www_dir / "alice" / "broken.test").exists()
    assert "<h1>example.com</h1>" in (await fetch(runtime, "example.com")).text
    assert (await fetch(runtime, "broken.test")).status_code == 404


async def test_a_delete_nginx_refuses_keeps_the_domain_and_its_site(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await user_api.login(alice)
    domain = await add(user_api, "example.com")
    await add(user_api, "other.test")

    def broken_vhost(site: Site, listen: tuple[str, ...], acme_webroot: Path) -> str:
        return "server { no_such_directive on; }\n"

    monkeypatch.setattr(nginx_module, "render_vhost", broken_vhost)
    assert (await user_api.delete(f"/api/v1/domains/{domain['id']}")).status_code == 502
    assert await domain_names(runtime) == ["example.com", "other.test"]
    assert (await fetch(runtime, "example.com")).status_code == 200


async def test_a_reload_that_fails_after_the_swap_puts_the_previous_configuration_back(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await add(user_api, "example.com")
    live_before = nginx.live_generation()
    sites = await Websites(runtime, nginx).sites()
    with socket.socket() as occupied:  # passes `nginx -t` (which binds nothing), fails at the reload
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]
        clashing = NginxDriver(dataclasses.replace(nginx.layout, listen=(*nginx.layout.listen, f"127.0.0.1:{port}")))
        with pytest.raises(ServiceFailed):
            await clashing.apply([*sites, Site("new.test", sites[0].docroot, "alice", 99)])
    assert nginx.live_generation() == live_before
    assert nginx.running()
    assert "<h1>example.com</h1>" in (await fetch(runtime, "example.com")).text
    assert (await fetch(runtime, "new.test")).status_code == 404


async def test_a_reload_nginx_completes_once_the_port_is_free_again_is_live_when_the_change_returns(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    """nginx tries a listening address in use again (every 500 ms, five times): its first `bind() ... failed` is
    not the reload's failure. Freed in time, the port is bound, and the change is live when apply returns."""
    await user_api.login(alice)
    await add(user_api, "example.com")
    sites = await Websites(runtime, nginx).sites()
    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]
        clashing = NginxDriver(dataclasses.replace(nginx.layout, listen=(*nginx.layout.listen, f"127.0.0.1:{port}")))
        applying = asyncio.create_task(clashing.apply([*sites, Site("new.test", sites[0].docroot, "alice", 99)]))
        refused = f"bind() to 127.0.0.1:{port} failed"
        deadline = time.monotonic() + 10
        while refused not in nginx.layout.error_log.read_text() and not applying.done():
            assert time.monotonic() < deadline, "nginx did not try to bind the port in use"
            await asyncio.sleep(0.005)
    applied = await applying  # the port is free again: nginx's next try binds it
    assert applied.reloaded
    assert nginx.live_generation() == applied.generation
    assert "<h1>example.com</h1>" in (await fetch(runtime, "new.test")).text


async def test_reconcile_puts_back_a_vhost_edited_or_deleted_by_hand_and_reports_it(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await add(user_api, "example.com")
    await add(user_api, "other.test")
    service = DomainService(runtime, Websites(runtime, nginx))
    assert (await service.reconcile()).clean
    live = nginx.live_generation()
    assert live is not None
    (live / vhost_file("example.com")).write_text("server { listen 1.2.3.4:80; server_name hijack; }\n")
    (live / vhost_file("other.test")).unlink()
    (live / "sites" / "stray.conf").write_text("# added by hand\n")

    drift = await service.reconcile()
    assert drift.changed == [vhost_file("example.com")]
    assert drift.missing == [vhost_file("other.test")]
    assert drift.unexpected == ["sites/stray.conf"]
    assert drift.repaired
    assert "<h1>other.test</h1>" in (await fetch(runtime, "other.test")).text
    assert "<h1>example.com</h1>" in (await fetch(runtime, "example.com")).text
    again = await service.reconcile()
    assert again.clean
    assert not again.repaired


async def test_reconcile_brings_back_a_removed_live_configuration_and_a_removed_docroot(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    docroot = Path((await add(user_api, "example.com"))["docroot"])
    nginx.layout.live_link.unlink()
    (docroot / "index.html").unlink()
    os.rmdir(docroot)
    drift = await DomainService(runtime, Websites(runtime, nginx)).reconcile()
    assert drift.not_live
    assert "<h1>example.com</h1>" in (await fetch(runtime, "example.com")).text


async def test_nginx_is_stopped_by_its_own_pid(runtime: Runtime) -> None:
    driver = NginxDriver.from_settings(runtime.settings)
    await driver.start([])
    pid = driver.master_pid()
    assert pid is not None
    assert await driver.healthy()
    await driver.stop()
    assert not driver.running()
    assert not await driver.healthy()
    assert (await driver.version()).startswith("nginx/")


async def test_every_create_is_in_the_database_and_served(
    nginx: NginxDriver, user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    names = [f"site{n}.test" for n in range(5)]
    for name in names:
        await add(user_api, name)
    async with runtime.reading() as db:
        assert await db.scalar(select(func.count()).select_from(Domain)) == 5
    for name in names:
        assert f"<h1>{name}</h1>" in (await fetch(runtime, name)).text
