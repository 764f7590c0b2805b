"""The websites driver's contract (WebsitesDriver), kept by nginx (NginxDriver: real files, the real `nginx -t`, a
real nginx for start/stop) and by FakeWebsites."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostplane.errors import ServiceConfigRejected
from hostplane.system.fake import FakeWebsites
from hostplane.system.interfaces import WebsitesDriver
from hostplane.system.nginx import NginxDriver, NginxLayout, Site, vhost_file
from hostplane.tls.selfsigned import self_signed_pem
from tests.conformance.conftest import IMPLEMENTATIONS, free_port, settings_in


@dataclass
class Harness:
    driver: WebsitesDriver
    lose_vhost: Callable[[str], None]
    """Delete a vhost from the live configuration by hand."""
    www: Path


@pytest.fixture(params=IMPLEMENTATIONS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    www = tmp_path / "www"
    if request.param == "fake":
        fake = FakeWebsites()
        return Harness(fake, fake.lose_vhost, www)
    settings = settings_in(tmp_path, nginx_http_port=free_port(), nginx_https_port=free_port(), www_dir=www)
    driver = NginxDriver(NginxLayout.from_settings(settings))

    def lose_vhost(name: str) -> None:
        live = driver.live_generation()
        assert live is not None
        (live / vhost_file(name)).unlink()

    return Harness(driver, lose_vhost, www)


def site(harness: Harness, name: str, tls_id: str = "") -> Site:
    return Site(name=name, docroot=harness.www / "alice" / name / "public", owner="alice", domain_id=1, tls_id=tls_id)


def certificate(name: str) -> tuple[str, bytes, bytes]:
    """(files id, full chain, key) of a self-signed certificate nginx can load."""
    chain, key = self_signed_pem([name])
    return hashlib.sha256(chain).hexdigest()[:32], chain, key


async def test_nothing_is_live_before_the_first_apply(harness: Harness) -> None:
    assert harness.driver.drift([site(harness, "a.test")]).not_live


async def test_apply_makes_exactly_the_desired_sites_live(harness: Harness) -> None:
    a, b, c = site(harness, "a.test"), site(harness, "b.test"), site(harness, "c.test")
    await harness.driver.apply([b, a])
    assert harness.driver.drift([a, b]).clean
    assert harness.driver.drift([a]).unexpected == [vhost_file("b.test")]
    assert harness.driver.drift([a, b, c]).missing == [vhost_file("c.test")]
    moved = Site(name="b.test", docroot=harness.www / "elsewhere", owner="alice", domain_id=1)
    assert harness.driver.drift([a, moved]).changed == [vhost_file("b.test")]


async def test_a_later_apply_replaces_the_whole_set(harness: Harness) -> None:
    a, b = site(harness, "a.test"), site(harness, "b.test")
    await harness.driver.apply([a, b])
    await harness.driver.apply([b])
    assert harness.driver.drift([b]).clean
    await harness.driver.apply([])
    assert harness.driver.drift([]).clean


async def test_a_configuration_naming_missing_certificate_files_is_refused_and_the_previous_one_stays_live(
    harness: Harness,
) -> None:
    a = site(harness, "a.test")
    await harness.driver.apply([a])
    tls_id, _chain, _key = certificate("b.test")
    with pytest.raises(ServiceConfigRejected):
        await harness.driver.apply([a, site(harness, "b.test", tls_id)])
    assert harness.driver.drift([a]).clean


async def test_certificate_files_are_written_once_and_found(harness: Harness) -> None:
    tls_id, chain, key = certificate("a.test")
    secure = site(harness, "a.test", tls_id)
    assert harness.driver.missing_tls([secure, site(harness, "b.test")]) == {tls_id}
    assert harness.driver.write_tls_files(tls_id, chain, key) is True
    assert harness.driver.write_tls_files(tls_id, chain, key) is False
    assert harness.driver.missing_tls([secure]) == set()
    await harness.driver.apply([secure])
    assert harness.driver.drift([secure]).clean


async def test_files_the_live_configuration_uses_are_kept_when_removed_and_removed_once_unused(
    harness: Harness,
) -> None:
    tls_id, chain, key = certificate("a.test")
    secure, plain = site(harness, "a.test", tls_id), site(harness, "a.test")
    harness.driver.write_tls_files(tls_id, chain, key)
    await harness.driver.apply([secure])
    harness.driver.remove_tls_files(tls_id)
    assert harness.driver.missing_tls([secure]) == set()
    await harness.driver.apply([plain])
    harness.driver.remove_tls_files(tls_id)
    assert harness.driver.missing_tls([secure]) == {tls_id}


async def test_an_apply_prunes_the_files_neither_the_live_nor_the_previous_configuration_uses(
    harness: Harness,
) -> None:
    tls_id, chain, key = certificate("a.test")
    secure, plain = site(harness, "a.test", tls_id), site(harness, "a.test")
    harness.driver.write_tls_files(tls_id, chain, key)
    await harness.driver.apply([secure])
    await harness.driver.apply([plain])
    assert harness.driver.missing_tls([secure]) == set()  # the previous configuration uses them
    await harness.driver.apply([plain])
    assert harness.driver.missing_tls([secure]) == {tls_id}
    other_id, other_chain, other_key = certificate("b.test")
    harness.driver.write_tls_files(other_id, other_chain, other_key)
    await harness.driver.apply([plain])
    assert harness.driver.missing_tls([site(harness, "b.test", other_id)]) == {other_id}


async def test_reconcile_reports_a_vhost_lost_by_hand_and_puts_it_back(harness: Harness) -> None:
    a, b = site(harness, "a.test"), site(harness, "b.test")
    await harness.driver.apply([a, b])
    harness.lose_vhost("b.test")
    assert harness.driver.drift([a, b]).missing == [vhost_file("b.test")]
    drift = await harness.driver.reconcile([a, b])
    assert drift.missing == [vhost_file("b.test")]
    assert drift.repaired
    assert harness.driver.drift([a, b]).clean
    again = await harness.driver.reconcile([a, b])
    assert again.clean and not again.repaired


async def test_reconcile_with_nothing_live_applies_the_desired_sites(harness: Harness) -> None:
    a = site(harness, "a.test")
    drift = await harness.driver.reconcile([a])
    assert drift.not_live and drift.repaired
    assert harness.driver.drift([a]).clean


async def test_exclusive_is_reentrant_within_a_task_and_orders_other_tasks(harness: Harness) -> None:
    a = site(harness, "a.test")
    entered: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with harness.driver.exclusive():
            entered.append("holder")
            holding.set()
            await harness.driver.apply([a])  # re-entrant: the unit of work applies while holding it
            await release.wait()

    async def other() -> None:
        async with harness.driver.exclusive():
            entered.append("other")

    async with asyncio.timeout(30):
        first = asyncio.create_task(holder())
        await holding.wait()
        second = asyncio.create_task(other())
        for _ in range(20):
            await asyncio.sleep(0)
        assert entered == ["holder"]
        release.set()
        await asyncio.gather(first, second)
    assert entered == ["holder", "other"]
    assert harness.driver.drift([a]).clean


async def test_start_runs_the_server_with_the_sites_and_stop_ends_it(harness: Harness) -> None:
    a = site(harness, "a.test")
    assert not harness.driver.running()
    await harness.driver.start([a])
    try:
        assert harness.driver.running()
        assert harness.driver.drift([a]).clean
        b = site(harness, "b.test")
        await harness.driver.apply([a, b])  # a reload of the running server
        assert harness.driver.drift([a, b]).clean
    finally:
        await harness.driver.stop()
    assert not harness.driver.running()
