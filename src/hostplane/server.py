"""`hostplane serve`: one process, one event loop, a listener per port (user, admin, webmail and their plain
twins), and the panel's own services started before them.

uvicorn logs its start and stop lines once per listener ("Started server process", "Uvicorn running on ...",
"Shutting down", "Finished server process"); those are left out (`QuietListeners`) and, once every listener and
every service is up, `ready` gets one start-up block instead: the panel's URLs, each service with its ports,
the state folder and where each log is (`startup_block`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn
import uvloop

from hostplane.app import Role, create_app
from hostplane.hosting.state import build_supervisor, mark_applied
from hostplane.jobs.service import JobService
from hostplane.logs import redact_access_log
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from hostplane.system.mailpaths import MailPaths
from hostplane.system.nginx import NginxLayout
from hostplane.system.opendkim import DkimKeyFolderUnsafe, OpenDkimDriver
from hostplane.tls.acme import renewal_loop

UVICORN_LOGGER = "uvicorn.error"
PER_LISTENER_LINES = (
    "Started server process",
    "Uvicorn running on",
    "Waiting for application startup",
    "Application startup complete",
    "Shutting down",
    "Waiting for application shutdown",
    "Application shutdown complete",
    "Finished server process",
)


class CannotStart(RuntimeError):
    """The embedded services cannot start with these settings on this host; the message says why and the fix."""


class QuietListeners(logging.Filter):
    """Drops uvicorn's start and stop lines, which it logs once per listener; errors and warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(PER_LISTENER_LINES))


def quiet_listeners() -> None:
    logger = logging.getLogger(UVICORN_LOGGER)
    if not any(isinstance(item, QuietListeners) for item in logger.filters):
        logger.addFilter(QuietListeners())


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us, since several share one loop, and tells when it
    listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.up.set()


@dataclass(frozen=True)
class Listener:
    """One port the panel answers on."""

    label: str
    role: Role
    port: int
    tls: bool

    def url(self, host: str) -> str:
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"


def listeners(settings: Settings) -> list[Listener]:
    """The user, admin and webmail ports; with `plain_twin_ports` the same three without TLS on cPanel's plain
    twins (skipped when the panel already serves plain HTTP on its main ports)."""
    tls = not settings.plain_http
    found = [
        Listener("user", "user", settings.user_port, tls),
        Listener("admin", "admin", settings.admin_port, tls),
        Listener("webmail", "webmail", settings.webmail_port, tls),
    ]
    if settings.plain_twin_ports and not settings.plain_http:
        found += [
            Listener("user, plain twin", "user", settings.user_plain_port, False),
            Listener("admin, plain twin", "admin", settings.admin_plain_port, False),
            Listener("webmail, plain twin", "webmail", settings.webmail_plain_port, False),
        ]
    return found


def _config(settings: Settings, app: object, port: int, log_level: str, *, plain: bool = False) -> uvicorn.Config:
    tls: dict[str, str] = {}
    if not settings.plain_http and not plain:
        cert, key = settings.resolved_tls_files
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.bind_host,
        port=port,
        proxy_headers=False,  # forwarded headers are judged by our own trusted-proxy rule
        server_header=False,
        log_level=log_level,
        lifespan="off",
        http="httptools",
        h11_max_incomplete_event_size=64 * 1024,
        **tls,  # type: ignore[arg-type]
    )


def _servers(settings: Settings, runtime: Runtime, log_level: str) -> list[_Server]:
    """A listener per port; a plain twin of webmail shares webmail's app, the others get their own."""
    servers = []
    webmail = create_app(runtime, "webmail")
    for listener in listeners(settings):
        app = webmail if listener.role == "webmail" else create_app(runtime, listener.role)
        servers.append(_Server(_config(settings, app, listener.port, log_level, plain=not listener.tls)))
    return servers


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def startup_block(settings: Settings) -> list[str]:
    """What `hostplane serve` prints once everything is up: the panel's URLs, each service with its ports, the
    state folder and where each log is."""
    nginx = NginxLayout.from_settings(settings)
    mail = MailPaths.from_settings(settings)
    host = settings.mail_bind_host
    panels = [(f"{listener.label} panel", listener.url(settings.bind_host)) for listener in listeners(settings)]
    services: list[tuple[str, str]] = []
    logs: list[tuple[str, str]] = [("panel", "standard error of this process")]
    if settings.embedded_services and settings.nginx_layout == "embedded":
        services.append(("nginx", f"http {nginx.listen[0]}, https {nginx.listen_tls[0]} (websites)"))
        logs += [("nginx errors", str(nginx.error_log)), ("nginx requests", str(nginx.access_log))]
    elif settings.nginx_layout == "system":
        https = settings.resolved_nginx_https_port
        services.append(("nginx (the host's)", f"http {settings.nginx_http_port}, https {https}, {nginx.entry_file}"))
    if settings.embedded_services:
        smtp, imap, lmtp = settings.mail_smtp_port, settings.mail_imap_port, settings.mail_lmtp_port
        services += [
            ("postfix", f"smtp {_address(host, smtp)}"),
            ("dovecot", f"imap {_address(host, imap)}, lmtp {_address(host, lmtp)}"),
            ("opendkim", f"milter {_address(host, settings.dkim_milter_port)}"),
        ]
        logs += [
            ("postfix", str(mail.postfix_log)),
            ("dovecot", str(mail.dovecot_log)),
            ("opendkim", "syslog only (lost when there is no /dev/log)"),
        ]
    lines = ["Hostplane is serving.", "", "Panels:", *_rows(panels), "", "Services:"]
    if not settings.embedded_services:
        lines.append("  none started by this process (embedded_services is off)")
    lines += [*_rows(services), ""]
    lines.append(f"State folder: {settings.state_dir.absolute()}")
    if settings.embedded_services:
        lines.append(f"DKIM keys:    {OpenDkimDriver.from_settings(settings).key_dir}")
    return [*lines, "", "Logs:", *_rows(logs)]


def _rows(pairs: list[tuple[str, str]]) -> list[str]:
    width = max((len(name) for name, _ in pairs), default=0)
    return [f"  {name:<{width}}  {value}" for name, value in pairs]


async def serve(
    settings: Settings, *, log_level: str = "info", ready: Callable[[list[str]], None] | None = None
) -> None:
    """Start the panel's own services, then every listener; call `ready` with the start-up block once all of them
    are up; on SIGINT or SIGTERM stop the listeners, then the services (each by its own pid)."""
    runtime = build_runtime(settings)
    servers = _servers(settings, runtime, log_level)
    redact_access_log()  # after uvicorn configured its loggers
    quiet_listeners()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if not any(server.should_exit for server in servers):
            logging.getLogger(UVICORN_LOGGER).info("Stopping the listeners, then the services.")
        for server in servers:
            server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    supervisor = build_supervisor(runtime) if settings.embedded_services else None
    renewal: asyncio.Task[None] | None = None
    announce: asyncio.Task[None] | None = None
    try:
        await JobService(runtime).recover()  # jobs a dead process left running are marked failed
        if supervisor is not None:  # the panel's own services first: the API never promises what nothing serves
            try:
                await supervisor.start()
            except DkimKeyFolderUnsafe as exc:
                raise CannotStart(str(exc)) from exc
            await asyncio.to_thread(mark_applied, runtime)  # from now on, a part whose files are gone is drift
            supervisor.watch()
        renewal = asyncio.create_task(renewal_loop(runtime))
        if ready is not None:
            announce = asyncio.create_task(_announce(settings, servers, ready))
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        for task in (announce, renewal):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if supervisor is not None:
            await supervisor.stop()  # each by its own pid, in reverse order, even when one fails
        await runtime.close()


async def _announce(settings: Settings, servers: list[_Server], ready: Callable[[list[str]], None]) -> None:
    await asyncio.gather(*(server.up.wait() for server in servers))
    ready(startup_block(settings))


def run(settings: Settings, *, log_level: str = "info", ready: Callable[[list[str]], None] | None = None) -> None:
    """Serve on uvloop (faster than the default loop for many small requests)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(settings, log_level=log_level, ready=ready))
