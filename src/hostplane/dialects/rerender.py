"""Re-rendering the app's RFC 9457 problem documents in a dialect's own error shape, on the dialect's paths.

The app answers every failure (core errors, request validation, unknown routes and methods, the edge's own
refusals: body too large, bad header) with a problem document. A dialect wraps the app in `ProblemRerendering`
with its prefix (or a test of its paths) and a `Translate` function; the layer holds back each error response on
those paths that carries a problem document and sends instead the status and body the translation gives, as JSON.
Every other response passes through untouched.
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
    """ASGI middleware; it must wrap the edge, so that the edge's own refusals are translated too. It covers the
    paths under `prefix`, or those `matches` accepts."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        translate: Translate,
        prefix: str | None = None,
        matches: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.matches = matches
        self.translate = translate

    def _covers(self, path: str) -> bool:
        if self.matches is not None:
            return self.matches(path)
        return self.prefix is not None and (path == self.prefix or path.startswith(self.prefix + "/"))

    def translate_at(self, path: str, problem: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
        """The translation of a problem answered at `path` (a dialect whose shape names the call overrides it)."""
        return self.translate(problem, status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not self._covers(path):
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
                start, body = self._rerendered(path, held, b"".join(chunks))
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, translating_send)

    def _rerendered(self, path: str, start: Message, body: bytes) -> tuple[Message, bytes]:
        try:
            problem = json.loads(body)
        except ValueError:  # a HEAD answer has no body: keep the status, answer in the dialect's content type
            problem = {}
        status, document = self.translate_at(path, problem if isinstance(problem, dict) else {}, start["status"])
        encoded = json.dumps(document, separators=(",", ":")).encode() if body else b""
        headers = [
            (name, value)
            for name, value in start.get("headers", [])
            if name not in (b"content-type", b"content-length")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]
        return {"type": "http.response.start", "status": status, "headers": headers}, encoded
