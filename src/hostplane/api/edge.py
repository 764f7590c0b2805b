"""The ASGI edge every request passes: security headers, header hygiene, body size, content type and (for the
JSON bodies of the native API) nesting depth.

Written as plain ASGI (not BaseHTTPMiddleware) because it sits on the hot path of every request.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostplane.api.bodies import deep_body_error, too_deep
from hostplane.api.problems import from_error, problem

log = logging.getLogger("hostplane.api")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
BAD_HEADER_BYTES = (b"\r", b"\n", b"\x00")


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, json_prefixes: tuple[str, ...], hsts: bool) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.json_prefixes = json_prefixes
        self.extra_headers = [*SECURITY_HEADERS, HSTS] if hsts else SECURITY_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    header for header in self.extra_headers if header[0] not in present
                ]
            await send(message)

        refusal = self._refuse_headers(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        if scope["method"] in BODY_METHODS or _header(scope, b"content-length") or _header(scope, b"transfer-encoding"):
            body = await self._read_body(receive)
            if body is None:
                response = problem(
                    413,
                    "Payload too large",
                    f"Request bodies are limited to {self.max_body} bytes.",
                    "payload_too_large",
                )
                await response(scope, receive, send_with_headers)
                return
            refusal = self._refuse_content_type(scope, body)
            if refusal is not None:
                await refusal(scope, receive, send_with_headers)
                return
            receive = _replay(body, receive)
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette answers unhandled errors outside every middleware, so that 500 would lack the headers:
            # answer it here instead, with the same problem document and nothing of the error in it.
            if started:
                raise
            log.exception("unhandled error")
            response = problem(500, "Internal error", "Something went wrong; it has been logged.", "internal_error")
            await response(scope, receive, send_with_headers)

    def _refuse_headers(self, scope: Scope) -> Any:
        for _name, value in scope["headers"]:
            if any(bad in value for bad in BAD_HEADER_BYTES):
                return problem(400, "Bad request", "Header values must not contain CR, LF or NUL.", "bad_header")
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return problem(400, "Bad request", "Content-Length is not a number.", "bad_header")
            if int(declared) > self.max_body:
                return problem(
                    413,
                    "Payload too large",
                    f"Request bodies are limited to {self.max_body} bytes.",
                    "payload_too_large",
                )
        return None

    def _refuse_content_type(self, scope: Scope, body: bytes) -> Any:
        if not body or not scope["path"].startswith(self.json_prefixes):
            return None
        content_type = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if content_type != b"application/json" and not content_type.endswith(b"+json"):
            return problem(
                415, "Unsupported media type", "Send the request body as application/json.", "unsupported_media_type"
            )
        if too_deep(body):  # before FastAPI's parser recurses into it
            return from_error(deep_body_error())
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
