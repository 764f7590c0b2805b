"""The nginx configuration is rendered whole and deterministically from the sites, and nginx accepts it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from hostplane.system.nginx import (
    ConfigRenderError,
    NginxLayout,
    Site,
    entry_text,
    quote_path,
    render,
    vhost_file,
)
from hostplane.system.runner import run_sync

NGINX = Path("/usr/sbin/nginx")
LONG_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])


def embedded(base: Path) -> NginxLayout:
    return NginxLayout(
        kind="embedded",
        binary=NGINX,
        base=base / "nginx",
        listen=("127.0.0.1:18080",),
        acme_webroot=base / "acme",
    )


def sites(base: Path) -> list[Site]:
    return [
        Site("example.com", base / "www/alice/example.com/public", "alice", 1),
        Site("blog.example.com", base / "www/alice/blog.example.com/public", "alice", 2),
        Site("xn--bcher-kva.de", base / "www/bob/xn--bcher-kva.de/public", "bob", 3),
        Site(LONG_NAME, base / "www/bob/long/public", "bob", 4),
    ]


def write(gen: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (gen / name).parent.mkdir(parents=True, exist_ok=True)
        (gen / name).write_text(text)


def nginx_check(base: Path, conf: Path) -> str:
    for folder in ("logs", "run", "tmp"):  # what the driver prepares before it checks
        (base / folder).mkdir(parents=True, exist_ok=True)
    result = run_sync(
        [str(NGINX), "-t", "-p", f"{base}/", "-e", str(base / "logs/error.log"), "-c", str(conf)], check=False
    )
    assert result.returncode == 0, result.output
    return result.output


def test_rendering_is_deterministic_whatever_the_order_of_the_sites(tmp_path: Path) -> None:
    layout, gen = embedded(tmp_path), tmp_path / "gen"
    first = render(layout, sites(tmp_path), gen)
    again = render(layout, list(reversed(sites(tmp_path))), gen)
    assert first == again
    assert list(first) == list(again)


def test_rendering_is_whole_one_main_file_the_http_level_and_one_vhost_per_site(tmp_path: Path) -> None:
    files = render(embedded(tmp_path), sites(tmp_path), tmp_path / "gen")
    assert set(files) == {"nginx.conf", "http.conf"} | {vhost_file(site.name) for site in sites(tmp_path)}
    assert f'include "{tmp_path}/gen/http.conf";' in files["nginx.conf"]
    assert f'include "{tmp_path}/gen/sites/*.conf";' in files["http.conf"]


def test_the_catch_all_is_the_default_server_and_answers_404(tmp_path: Path) -> None:
    http = render(embedded(tmp_path), [], tmp_path / "gen")["http.conf"]
    catch_all = re.search(r"server \{[^}]*\}", http)
    assert catch_all is not None
    assert "listen 127.0.0.1:18080 default_server;" in catch_all.group(0)
    assert "return 404;" in catch_all.group(0)


def test_every_vhost_serves_the_shared_acme_challenge_location(tmp_path: Path) -> None:
    files = render(embedded(tmp_path), sites(tmp_path), tmp_path / "gen")
    for site in sites(tmp_path):
        vhost = files[vhost_file(site.name)]
        assert f"server_name {site.name};" in vhost
        assert f'root "{site.docroot}";' in vhost
        assert "location ^~ /.well-known/acme-challenge/ {" in vhost
        assert f'root "{tmp_path}/acme";' in vhost
        assert "default_server" not in vhost


def test_nginx_accepts_the_rendered_embedded_configuration(tmp_path: Path) -> None:
    layout, gen = embedded(tmp_path), tmp_path / "nginx/generations/1"
    write(gen, render(layout, sites(tmp_path), gen))
    nginx_check(layout.base, gen / "nginx.conf")


def test_the_system_layout_listens_on_port_80_and_nginx_accepts_it_under_a_temporary_prefix(tmp_path: Path) -> None:
    layout = replace(
        embedded(tmp_path), kind="system", listen=("80", "[::]:80"), system_conf_dir=tmp_path / "etc-nginx"
    )
    gen = tmp_path / "nginx/generations/1"
    files = render(layout, sites(tmp_path), gen)
    assert set(files) == {"check.conf", "http.conf"} | {vhost_file(site.name) for site in sites(tmp_path)}
    assert "listen 80 default_server;" in files["http.conf"]
    assert "listen [::]:80;" in files[vhost_file("example.com")]
    assert layout.entry_file == tmp_path / "etc-nginx/conf.d/hostplane.conf"
    assert entry_text(layout).endswith(f'include "{tmp_path}/nginx/conf/http.conf";\n')
    # The host's own nginx.conf brings the http-level settings the system layout leaves to it.
    files["check.conf"] = files["check.conf"].replace(
        "http {", "http {\n    server_names_hash_bucket_size 512;\n    client_body_temp_path /tmp;"
    )
    write(gen, files)
    nginx_check(layout.base, gen / "check.conf")


def test_a_site_whose_name_is_not_a_domain_cannot_be_rendered(tmp_path: Path) -> None:
    for bad in ("../etc", "example.com;", "Example.com", "a b.com", "example.com\n", "*.example.com"):
        with pytest.raises(ConfigRenderError):
            Site(bad, tmp_path, "alice", 1)


@pytest.mark.parametrize(
    "path", ["relative/www", '/srv/"www', "/srv/www;", "/srv/$host", "/srv/{www}", "/srv/www\n", "/srv/w'w", "/srv/#"]
)
def test_a_path_that_could_break_out_of_a_config_string_is_refused(path: str) -> None:
    with pytest.raises(ConfigRenderError):
        quote_path(path)


def test_a_docroot_that_could_break_out_of_the_config_fails_the_rendering(tmp_path: Path) -> None:
    evil = Site("example.com", Path('/srv/www";\n    root /etc; #'), "alice", 1)
    with pytest.raises(ConfigRenderError):
        render(embedded(tmp_path), [evil], tmp_path / "gen")


def test_two_sites_with_one_name_cannot_be_rendered(tmp_path: Path) -> None:
    twins = [Site("example.com", tmp_path / "a", "alice", 1), Site("example.com", tmp_path / "b", "bob", 2)]
    with pytest.raises(ConfigRenderError):
        render(embedded(tmp_path), twins, tmp_path / "gen")


def test_a_name_too_long_for_a_file_name_gets_a_short_unique_vhost_file() -> None:
    other = LONG_NAME.replace("com", "net")
    assert len(vhost_file(LONG_NAME).removeprefix("sites/")) <= 255
    assert vhost_file(LONG_NAME) != vhost_file(other)
    assert vhost_file("example.com") == "sites/example.com.conf"
