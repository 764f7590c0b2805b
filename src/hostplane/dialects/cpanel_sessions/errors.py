"""The secure remote logins' refusal shape, `{status: 0, message, notice}`, for what the app itself answers on
their paths (`/login/` and `/cpsess##########/...` but WHM's functions): the edge's refusals (body too large, bad
header), a method the path does not take, an unexpected error (never with details). Same HTTP status. The routes
answer their own refusals in this shape already (routes.refusal)."""

from __future__ import annotations

import re
from typing import Any

from starlette.types import ASGIApp

from hostplane.dialects.rerender import ProblemRerendering

PATH = re.compile(r"^/login/?$|^/cpsess[0-9]{10}/(?!json-api/)")
INTERNAL = "An internal error occurred; it has been logged."


def cpanel_errors(problem: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
    if status >= 500:
        return status, {"status": 0, "message": "internal_error", "notice": INTERNAL}
    notice = str(problem.get("detail") or problem.get("title") or "Bad request")
    return status, {"status": 0, "message": "invalid_request", "notice": notice}


class CpanelErrors(ProblemRerendering):
    """ASGI middleware; it must wrap the edge, so that the edge's own refusals are translated too."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, matches=lambda path: PATH.match(path) is not None, translate=cpanel_errors)
