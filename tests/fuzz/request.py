"""Generated requests: values that depend on the live state of the fuzz world (tokens, ids) stay symbolic (`Live`)
until the request is sent, so that a strategy built once stays valid when the world repairs itself."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fuzz.asgi import Wire

Port = Literal["user", "admin", "webmail"]
PORTS: tuple[Port, ...] = ("user", "admin", "webmail")


@dataclass(frozen=True)
class Live:
    """A value of the world at send time: `world.live[name]`."""

    name: str


@dataclass(frozen=True)
class Cat:
    """Text made of pieces, some of them Live (such as "Bearer " + a token)."""

    parts: tuple[str | Live, ...]


Text = str | Live | Cat


@dataclass(frozen=True)
class Seg:
    """A path segment from generated data: percent-encoded when sent (literal pieces are sent as they are)."""

    value: Text | int


@dataclass(frozen=True)
class JsonBody:
    value: Any
    content_type: str = "application/json"


@dataclass(frozen=True)
class FormBody:
    pairs: tuple[tuple[Text, Text], ...]
    multipart: bool = False


@dataclass(frozen=True)
class RawBody:
    data: bytes
    content_type: str | None


Body = JsonBody | FormBody | RawBody | None


@dataclass(frozen=True)
class Request:
    port: Port
    route: str
    """What the statistics count it under: "METHOD /template" (or a family name for generated paths)."""
    method: str
    path: tuple[str | Seg, ...]
    query: tuple[tuple[Text, Text], ...] = ()
    headers: tuple[tuple[str, Text], ...] = ()
    body: Body = None
    chunks: int = 1
    raw_query: str | None = None
    """Sent as is instead of `query` (already percent-encoded)."""
    credential: str | None = None
    """The world credential this request carries when it is one that should work (for the repair check)."""
    tags: tuple[str, ...] = field(default=())


Resolver = Callable[[Any, dict[str, Any]], Awaitable[Any]]


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def quote(value: str) -> str:
    return urllib.parse.quote_from_bytes(_utf8(value), safe="")


def _multipart(pairs: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in pairs:
        escaped = _utf8(name).replace(b'"', b"%22").replace(b"\r", b"%0D").replace(b"\n", b"%0A")
        out += b"--" + boundary.encode() + b"\r\n"
        out += b'Content-Disposition: form-data; name="' + escaped + b'"\r\n\r\n'
        out += _utf8(value) + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


async def to_wire(request: Request, resolve: Resolver) -> Wire:
    """The request with every Live value filled in, as bytes."""
    cache: dict[str, Any] = {}

    async def text(value: Any) -> str:
        return _text(await resolve(value, cache))

    path = ""
    for piece in request.path:
        path += quote(await text(piece.value)) if isinstance(piece, Seg) else piece
    if request.raw_query is not None:
        query = request.raw_query
    else:
        query = "&".join([f"{quote(await text(k))}={quote(await text(v))}" for k, v in request.query])
    headers: list[tuple[bytes, bytes]] = []
    for name, value in request.headers:
        headers.append((name.lower().encode("latin-1"), _utf8(await text(value))))
    body = b""
    content_type: str | None = None
    if isinstance(request.body, JsonBody):
        body = json.dumps(await resolve(request.body.value, cache)).encode()
        content_type = request.body.content_type
    elif isinstance(request.body, FormBody):
        pairs = [(await text(k), await text(v)) for k, v in request.body.pairs]
        if request.body.multipart:
            body, content_type = _multipart(pairs)
        else:
            body = "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode()
            content_type = "application/x-www-form-urlencoded"
    elif isinstance(request.body, RawBody):
        body, content_type = request.body.data, request.body.content_type
    if content_type is not None and not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", content_type.encode("latin-1")))
    target = path + (f"?{query}" if query else "")
    return Wire(method=request.method, target=target, headers=headers, body=body, chunks=request.chunks)


def describe(wire: Wire, limit: int = 600) -> str:
    """A short, reproducible account of a request for failure reports."""
    head = f"{wire.method} {wire.target[:limit]}"
    headers = "; ".join(
        f"{k.decode('latin-1')}: {v[:120].decode('utf-8', 'backslashreplace')}"
        for k, v in wire.headers
        if k not in (b"host",)
    )
    body = wire.body[:limit].decode("utf-8", "backslashreplace")
    more = f" (+{len(wire.body) - limit} bytes)" if len(wire.body) > limit else ""
    return f"{head}\n    headers: {headers}\n    body: {body!r}{more}"
