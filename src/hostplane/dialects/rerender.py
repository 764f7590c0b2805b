"""Re-rendering the app's RFC 9457 problem documents in a dialect's own error shape, under a path prefix.

The app answers every failure (core errors, request validation, unknown routes and methods, the edge's own
refusals) with a problem document. A dialect wraps the app in `ProblemRerendering` with its prefix and a
`Translate` function; the layer holds back each error response under the prefix that carries a problem document
and sends instead the status and body the translation gives, as JSON. Every other response passes through
untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = b"application/problem+json"

Translate = Callable[[dict[str, Any], int], tuple[int, dict[str, Any]]]
"""(native problem document, native status) -> (the dialect's status, the dialect's body)."""


class ProblemRerendering:
    """ASGI middleware; it must wrap the edge, so that the edge's own refusals are translated too."""

    def __init__(self, app: ASGIApp, *, prefix: str, translate: Translate) -> None:
        self.app = app
        self.prefix = prefix
        self.translate = translate

    def _under_prefix(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._under_prefix(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def translating_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if message["status"] >= 400 and content_type.startswith(PROBLEM_JSON):
                    held = message
                    return
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                start, body = self._rerendered(held, b"".join(chunks))
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, translating_send)

    def _rerendered(self, start: Message, body: bytes) -> tuple[Message, bytes]:
        try:
            problem = json.loads(body)
        except ValueError:  # a HEAD answer has no body: keep the status, answer in the dialect's content type
            problem = {}
        status, document = self.translate(problem if isinstance(problem, dict) else {}, start["status"])
        encoded = json.dumps(document, separators=(",", ":")).encode() if body else b""
        headers = [
            (name, value)
            for name, value in start.get("headers", [])
            if name not in (b"content-type", b"content-length")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]
        return {"type": "http.response.start", "status": status, "headers": headers}, encoded
