"""The system layout (the host's own services, not ours) uses the same drivers: they render it, their validators
(`nginx -t`, `postfix check`, `doveconf`, `opendkim -n`) accept it, and the supervisor starts no nginx of its own.
Everything goes to temporary folders: nothing under /etc is touched."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

from hostplane.hosting.state import build_services
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.dovecot import DovecotDriver
from hostplane.system.mailpaths import MailPaths
from hostplane.system.nginx import NginxDriver, Site, vhost_file
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.system.postfix import PostfixDriver
from hostplane.system.runner import run_sync

NGINX = "/usr/sbin/nginx"


def host_nginx(conf_dir: Path, scratch: Path) -> None:
    """A host nginx.conf shaped like Debian's: http-level settings, then every file of conf.d."""
    (conf_dir / "conf.d").mkdir(parents=True)
    scratch.mkdir(parents=True, exist_ok=True)
    (conf_dir / "nginx.conf").write_text(
        "worker_processes 1;\n"
        f"pid {scratch}/host.pid;\n"
        f"error_log {scratch}/host-error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    access_log {scratch}/host-access.log;\n"
        f"    client_body_temp_path {scratch}/body;\n"
        f"    proxy_temp_path {scratch}/proxy;\n"
        f"    fastcgi_temp_path {scratch}/fastcgi;\n"
        f"    uwsgi_temp_path {scratch}/uwsgi;\n"
        f"    scgi_temp_path {scratch}/scgi;\n"
        "    server_names_hash_bucket_size 128;\n"
        f"    include {conf_dir}/conf.d/*.conf;\n"
        "}\n"
    )


async def test_nginx_system_layout_is_included_from_the_hosts_conf_d_on_port_80_and_the_host_config_accepts_it(
    tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    etc = tmp_path / "etc-nginx"
    host_nginx(etc, tmp_path / "host")
    settings = settings_factory(nginx_layout="system", nginx_http_port=80, nginx_system_conf_dir=etc)
    driver = NginxDriver.from_settings(settings)
    sites = [
        Site("example.com", tmp_path / "www/alice/example.com/public", "alice", 1),
        Site("shop.example.org", tmp_path / "www/bob/shop.example.org/public", "bob", 2),
    ]

    applied = await driver.apply(sites)

    assert applied.reloaded is False  # the host's nginx is not running here: nothing to reload
    entry = etc / "conf.d" / "hostplane.conf"
    assert entry.read_text().endswith(f'include "{settings.state_dir.absolute()}/nginx/conf/http.conf";\n')
    live = driver.live_generation()
    assert live is not None
    http = (live / "http.conf").read_text()
    assert "listen 80 default_server;" in http and "listen [::]:80 default_server;" in http
    assert "access_log" not in http.split("# Catch-all")[0]  # http-level settings stay the host's
    vhost = (live / vhost_file("example.com")).read_text()
    assert "server_name example.com;" in vhost and "listen 80;" in vhost
    assert not (live / "nginx.conf").exists()  # no master config of ours: the host runs its own nginx
    # The whole host configuration, with our files included, passes `nginx -t`.
    check = run_sync([NGINX, "-t", "-c", str(etc / "nginx.conf")], check=False)
    assert check.returncode == 0, check.output
    assert driver.drift(sites).clean
    assert not await asyncio.to_thread(Path("/etc/nginx/conf.d/hostplane.conf").exists)


async def test_the_supervisor_of_the_system_layout_runs_no_nginx_of_its_own(
    runtime: Runtime, settings_factory: Callable[..., Settings]
) -> None:
    system = dataclasses.replace(runtime, settings=settings_factory(nginx_layout="system"))
    assert [service.name for service in build_services(system)] == ["dovecot", "opendkim", "postfix"]
    assert [service.name for service in build_services(runtime)] == ["dovecot", "opendkim", "postfix", "nginx"]


async def test_mail_drivers_render_the_system_layout_and_their_validators_accept_it(
    tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    root = tmp_path / "mail"
    settings = settings_factory(mail_dir=root, dkim_require_safe_keys=False)
    paths = MailPaths.from_settings(settings)
    postfix = PostfixDriver(settings, paths, layout="system")
    dovecot = DovecotDriver(settings, paths, layout="system")
    opendkim = OpenDkimDriver(settings, paths, layout="system")

    # apply() renders the whole set, validates it in a staging folder, and only then swaps it in.
    assert await postfix.apply() is True
    assert await dovecot.apply() is True
    assert await opendkim.apply() is True

    main_cf = (paths.postfix_config / "main.cf").read_text()
    master_cf = (paths.postfix_config / "master.cf").read_text()
    assert main_cf.startswith("# Rendered by Hostplane (system layout)")
    # The host's Postfix delivers outbound mail: no error transports, an smtp client in master.cf.
    assert "default_transport = error" not in main_cf and "relay_transport = error" not in main_cf
    assert "\nsmtp      unix" in master_cf
    assert "virtual_mailbox_domains = sqlite:" in main_cf
    assert (paths.dovecot_config).read_text().startswith("# Rendered by Hostplane (system layout)")
    doveconf = run_sync(["/usr/bin/doveconf", "-c", str(paths.dovecot_config), "-n"], check=False)
    assert doveconf.returncode == 0, doveconf.output
    assert (opendkim.config_file).exists()
    # Applying again changes nothing (the rendering is deterministic).
    assert (await postfix.apply(), await dovecot.apply(), await opendkim.apply()) == (False, False, False)
    # The embedded rendering differs exactly where it must: nothing may leave the machine.
    embedded = PostfixDriver(settings, paths).render()["main.cf"]
    assert "default_transport = error:outbound mail disabled" in embedded
