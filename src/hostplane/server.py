"""`hostplane serve`: one process, one event loop, a listener per port (user and admin)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn
import uvloop

from hostplane.app import create_app
from hostplane.logs import redact_access_log
from hostplane.runtime import build_runtime
from hostplane.settings import Settings


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us, since several share one loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(settings: Settings, app: object, port: int, log_level: str) -> uvicorn.Config:
    tls: dict[str, str] = {}
    if not settings.plain_http:
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


async def serve(settings: Settings, *, log_level: str = "info") -> None:
    runtime = build_runtime(settings)
    servers = [
        _Server(_config(settings, create_app(runtime, "user"), settings.user_port, log_level)),
        _Server(_config(settings, create_app(runtime, "admin"), settings.admin_port, log_level)),
    ]
    redact_access_log()  # after uvicorn configured its loggers
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        await runtime.close()


def run(settings: Settings, *, log_level: str = "info") -> None:
    """Serve on uvloop (faster than the default loop for many small requests)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(settings, log_level=log_level))
