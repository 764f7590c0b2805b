"""`hostplane serve`: one process, one event loop, a listener per port (user and admin)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn
import uvloop

from hostplane.app import create_app
from hostplane.hosting.state import build_supervisor, mark_applied
from hostplane.jobs.service import JobService
from hostplane.logs import redact_access_log
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from hostplane.system.opendkim import DkimKeyFolderUnsafe
from hostplane.tls.acme import renewal_loop


class CannotStart(RuntimeError):
    """The embedded services cannot start with these settings on this host; the message says why and the fix."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us, since several share one loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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


def _webmail_and_plain_twins(settings: Settings, runtime: Runtime, log_level: str) -> list[_Server]:
    """Webmaild's listener, and with `plain_twin_ports` the same three apps without TLS on cPanel's plain twins
    (a twin is skipped when the panel already serves plain HTTP on its main port)."""
    webmail = create_app(runtime, "webmail")
    servers = [_Server(_config(settings, webmail, settings.webmail_port, log_level))]
    if settings.plain_twin_ports and not settings.plain_http:
        for role, port in (
            ("user", settings.user_plain_port),
            ("admin", settings.admin_plain_port),
            ("webmail", settings.webmail_plain_port),
        ):
            app = webmail if role == "webmail" else create_app(runtime, role)  # type: ignore[arg-type]
            servers.append(_Server(_config(settings, app, port, log_level, plain=True)))
    return servers


async def serve(settings: Settings, *, log_level: str = "info") -> None:
    runtime = build_runtime(settings)
    servers = [
        _Server(_config(settings, create_app(runtime, "user"), settings.user_port, log_level)),
        _Server(_config(settings, create_app(runtime, "admin"), settings.admin_port, log_level)),
    ]
    servers += _webmail_and_plain_twins(settings, runtime, log_level)
    redact_access_log()  # after uvicorn configured its loggers
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    supervisor = build_supervisor(runtime) if settings.embedded_services else None
    renewal: asyncio.Task[None] | None = None
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
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        if renewal is not None:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
        if supervisor is not None:
            await supervisor.stop()  # each by its own pid, in reverse order, even when one fails
        await runtime.close()


def run(settings: Settings, *, log_level: str = "info") -> None:
    """Serve on uvloop (faster than the default loop for many small requests)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(settings, log_level=log_level))
