"""A raw in-process HTTP/1.1 client for ASGI apps: the scope is built as uvicorn builds it from the bytes on the wire,
so header bytes, percent-encoded paths and bodies reach the app exactly as a hostile client could send them (httpx
would refuse or normalise some of them before the app sees them)."""

from __future__ import annotations

import asyncio
import re
import traceback
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

PEER = "203.0.113.7"
TRACEBACK = re.compile(rb"Traceback \(most recent call last\)|File \"[^\"\n]{1,300}\", line \d+")
ANSWER_TIMEOUT = 60.0
"""A request without an answer after this long is reported as hung (a guard, never a sleep)."""


@dataclass
class Wire:
    """One request as bytes: `target` is the request target (percent-encoded path and query)."""

    method: str
    target: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    chunks: int = 1
    """The body is delivered in this many `http.request` messages (the edge reads them all)."""


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    error: str | None = None
    """An exception that escaped the app (its traceback), or a hang: always a failure."""

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    @property
    def has_traceback(self) -> bool:
        return TRACEBACK.search(self.body) is not None


def scope_of(wire: Wire, server_port: int) -> dict[str, Any]:
    raw_path, _, query = wire.target.partition("?")
    headers = [(b"host", b"testserver"), *[(name.lower(), value) for name, value in wire.headers]]
    if wire.body:
        headers.append((b"content-length", str(len(wire.body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", server_port),
        "client": (PEER, 40000),
        "scheme": "http",
        "method": wire.method,
        "root_path": "",
        "path": urllib.parse.unquote(raw_path),
        "raw_path": raw_path.encode("ascii"),
        "query_string": query.encode("ascii"),
        "headers": headers,
        "state": {},
    }


def _pieces(body: bytes, chunks: int) -> list[bytes]:
    if chunks <= 1 or len(body) < chunks:
        return [body]
    size = -(-len(body) // chunks)
    return [body[start : start + size] for start in range(0, len(body), size)]


async def exchange(app: Any, wire: Wire, server_port: int = 2083) -> Answer:
    """Send one request to the app and collect the whole answer (streamed ones too)."""
    pieces = _pieces(wire.body, wire.chunks)
    sent = 0
    finished = asyncio.Event()
    status = 0
    headers: list[tuple[bytes, bytes]] = []
    body = bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent < len(pieces):
            sent += 1
            return {"type": "http.request", "body": pieces[sent - 1], "more_body": sent < len(pieces)}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                finished.set()

    error: str | None = None
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            await app(scope_of(wire, server_port), receive, send)
    except TimeoutError:
        error = f"no answer within {ANSWER_TIMEOUT:.0f} s"
    except Exception:
        error = traceback.format_exc()
    finally:
        finished.set()
    if status == 0 and error is None:
        error = "the app returned without starting a response"
    return Answer(status=status or 599, headers=headers, body=bytes(body), error=error)
