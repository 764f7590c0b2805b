"""`hostplane serve` as the admin runs it: it starts the panel's own services before its listeners, says so in one
start-up block (URLs, services and their ports, state folder, logs) instead of uvicorn's line per listener, reports
no drift on the first start of a fresh state, keeps the services running, and stops every one of them (no process
left) on SIGTERM."""

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
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(HOSTPLANE), "serve"],  # uvicorn at its default level (info), which logs a start line per listener
            cwd=panel_root,
            env=as_environment(values),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    groups: set[int] = set()
    try:
        wait_for("the start-up block", lambda: "Logs:" in log.read_text(), process, log)
        # The listeners open only once every service runs, and the block is printed once all of them listen.
        for port in (user_port, admin_port, webmail_port):
            assert daemons.port_open("127.0.0.1", port), port
        output = log.read_text()
        assert output.count("Hostplane is serving.") == 1, output
        for line in (
            f"user panel     http://127.0.0.1:{user_port}/",
            f"admin panel    http://127.0.0.1:{admin_port}/",
            f"webmail panel  http://127.0.0.1:{webmail_port}/",
            f"nginx     http 127.0.0.1:{panel_settings.nginx_http_port}, "
            f"https 127.0.0.1:{panel_settings.nginx_https_port} (websites)",
            f"postfix   smtp 127.0.0.1:{panel_settings.mail_smtp_port}",
            f"dovecot   imap 127.0.0.1:{panel_settings.mail_imap_port}, lmtp 127.0.0.1:{panel_settings.mail_lmtp_port}",
            f"opendkim  milter 127.0.0.1:{panel_settings.dkim_milter_port}",
            f"State folder: {panel_settings.state_dir}",
            f"nginx errors    {panel_settings.state_dir}/nginx/logs/error.log",
            f"nginx requests  {panel_settings.state_dir}/nginx/logs/access.log",
            f"postfix         {panel_settings.state_dir}/mail/postfix/maillog",
            f"dovecot         {panel_settings.state_dir}/mail/dovecot.log",
        ):
            assert line in output, (line, output)
        for noise in ("Started server process", "Uvicorn running on", "desired state:"):
            assert noise not in output, output  # nothing per listener; a first start is not drift
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
        output = log.read_text()
        for noise in ("Shutting down", "Finished server process"):
            assert noise not in output, output
        assert output.count("Stopping the listeners, then the services.") == 1, output
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
