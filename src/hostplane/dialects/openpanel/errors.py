"""OpenPanel's failure shape, `{"error": "..."}`, for what the app itself answers on OpenPanel's paths: the edge's
refusals (body too large, bad header), a method the path does not take, an unexpected error (never with details).
The routes answer their own failures in this shape already (routes.error)."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp

from hostplane.dialects.rerender import ProblemRerendering

PATHS = frozenset({"/api/login", "/api/domains"})
STATUSES = frozenset({400, 401, 403, 404, 405, 409, 413, 429})
"""Kept as they are; any other 4xx is a 400, as the routes answer core errors."""
INTERNAL = "An internal error occurred; it has been logged."


def openpanel_errors(problem: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
    if status >= 500:
        return 500, {"error": INTERNAL}
    message = str(problem.get("detail") or problem.get("title") or "Bad request")
    return (status if status in STATUSES else 400), {"error": message}


class OpenPanelErrors(ProblemRerendering):
    """ASGI middleware; it must wrap the edge, so that the edge's own refusals are translated too."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, matches=PATHS.__contains__, translate=openpanel_errors)
