"""How a site with a certificate is rendered: a TLS listener with its own files, a TLS catch-all that refuses
unknown names, and the https port of each layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hostplane.settings import Settings
from hostplane.system.nginx import ConfigRenderError, NginxLayout, Site, render, vhost_file

TLS_ID = "ab" * 20


def sites(tmp_path: Path) -> list[Site]:
    return [
        Site("secure.test", tmp_path / "secure", "alice", 1, tls_id=TLS_ID),
        Site("plain.test", tmp_path / "plain", "bob", 2),
    ]


def test_the_https_port_defaults_to_18443_embedded_and_443_for_the_system_layout(
    settings_factory: Callable[..., Settings],
) -> None:
    assert settings_factory().resolved_nginx_https_port == 18443
    assert settings_factory(nginx_layout="system").resolved_nginx_https_port == 443
    assert settings_factory(nginx_https_port=8443).resolved_nginx_https_port == 8443


def test_only_the_site_with_a_certificate_listens_for_tls_with_its_own_files(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    layout = NginxLayout.from_settings(settings_factory(nginx_https_port=8443))
    files = render(layout, sites(tmp_path), tmp_path / "gen")
    secure, plain = files[vhost_file("secure.test")], files[vhost_file("plain.test")]
    assert "listen 127.0.0.1:8443 ssl;" in secure
    assert f'ssl_certificate "{layout.tls_dir}/{TLS_ID}.crt";' in secure
    assert f'ssl_certificate_key "{layout.tls_dir}/{TLS_ID}.key";' in secure
    assert "ssl" not in plain
    assert "listen 127.0.0.1:8443 ssl default_server;" in files["http.conf"]
    assert "ssl_reject_handshake on;" in files["http.conf"]
    assert files["tls-files.txt"] == f"{TLS_ID}\n"


def test_the_system_layout_listens_for_tls_on_443_over_ipv4_and_ipv6(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    layout = NginxLayout.from_settings(settings_factory(nginx_layout="system", nginx_http_port=80))
    files = render(layout, sites(tmp_path), tmp_path / "gen")
    secure = files[vhost_file("secure.test")]
    assert "listen 443 ssl;" in secure and "listen [::]:443 ssl;" in secure
    assert "listen 443 ssl default_server;" in files["http.conf"]
    assert "check.conf" in files


def test_without_a_certificate_nothing_listens_for_tls(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    layout = NginxLayout.from_settings(settings_factory())
    files = render(layout, [Site("plain.test", tmp_path, "bob", 2)], tmp_path / "gen")
    assert all(" ssl" not in text for text in files.values())
    assert "tls-files.txt" not in files


@pytest.mark.parametrize("tls_id", ["../../etc/shadow", "AB" * 20, "ab;", "a" * 8, "ab\n" * 10])
def test_a_certificate_files_id_must_be_a_lowercase_digest(tmp_path: Path, tls_id: str) -> None:
    with pytest.raises(ConfigRenderError):
        Site("secure.test", tmp_path, "alice", 1, tls_id=tls_id)
