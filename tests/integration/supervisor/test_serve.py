"""`hostplane serve` as the admin runs it: it starts the panel's own services before its listeners, keeps them
running, and stops every one of them (no process left) on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

from hostplane.settings import Settings
from hostplane.system import daemons
from hostplane.system.supervisor import end_group, group_members
from tests.integration.mail.conftest import free_ports
from tests.integration.supervisor.conftest import as_environment, masters, wait_for
from tests.live_server import HOSTPLANE


def test_serve_starts_the_services_restarts_a_dead_one_and_stops_them_all_on_sigterm(
    panel_root: Path, panel_settings: Settings
) -> None:
    user_port, admin_port, webmail_port = free_ports(3)
    values = {name: getattr(panel_settings, name) for name in panel_settings.model_fields_set}
    values.update(user_port=user_port, admin_port=admin_port, webmail_port=webmail_port)
    log = panel_root / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(HOSTPLANE), "serve", "--log-level", "warning"],
            cwd=panel_root,
            env=as_environment(values),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    groups: set[int] = set()
    try:
        wait_for("API listening", lambda: daemons.port_open("127.0.0.1", user_port), process, log)
        # The listeners open only once every service runs.
        first = masters(panel_settings)
        assert all(first.values()), first
        groups = {pid for pid in first.values() if pid is not None}
        for port in (
            panel_settings.nginx_http_port,
            panel_settings.mail_smtp_port,
            panel_settings.mail_imap_port,
            panel_settings.dkim_milter_port,
        ):
            assert daemons.port_open("127.0.0.1", port), port

        dovecot = first["dovecot"]
        assert dovecot is not None
        os.kill(dovecot, signal.SIGKILL)
        wait_for(
            "dovecot restarted",
            lambda: (
                masters(panel_settings)["dovecot"] not in (None, dovecot)
                and daemons.port_open("127.0.0.1", panel_settings.mail_imap_port)
            ),
            process,
            log,
        )
        assert "dovecot is not healthy" in log.read_text()
        groups |= {pid for pid in masters(panel_settings).values() if pid is not None}
        every = set().union(*(group_members(group) | {group} for group in groups))

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, log.read_text()
        assert masters(panel_settings) == dict.fromkeys(first)
        assert {pid for pid in every if daemons.pid_alive(pid)} == set()
        for port in (user_port, panel_settings.nginx_http_port, panel_settings.mail_imap_port):
            assert not daemons.port_open("127.0.0.1", port), port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for group in groups:  # only if the test failed: nothing is left otherwise
            if group_members(group):
                asyncio.run(asyncio.to_thread(end_group, group, 1.0))
