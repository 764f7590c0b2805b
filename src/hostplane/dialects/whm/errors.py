"""WHM's envelope for what the app itself answers on WHM API 1 paths: the edge's refusals (body too large, bad
header), a method the path does not take, an unexpected error (never with details). Same HTTP status, and the body
WHM clients read: `{metadata: {command, reason, result: 0, version: 1}}`. The functions answer their own failures
in the envelope already (routes.failure)."""

from __future__ import annotations

import re
from typing import Any

from starlette.types import ASGIApp

from hostplane.dialects.rerender import ProblemRerendering

PATH = re.compile(r"^(?:/cpsess[0-9]{10})?/json-api/(?P<function>[A-Za-z0-9_]{1,64})?")
INTERNAL = "An internal error occurred; it has been logged."


def whm_envelope(command: str, problem: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
    reason = INTERNAL if status >= 500 else str(problem.get("detail") or problem.get("title") or "Bad request")
    return status, {"metadata": {"command": command, "reason": reason, "result": 0, "version": 1}}


class WhmErrors(ProblemRerendering):
    """ASGI middleware; it must wrap the edge, so that the edge's own refusals are translated too."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, matches=lambda path: PATH.match(path) is not None, translate=self._anonymous)

    @staticmethod
    def _anonymous(problem: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
        return whm_envelope("", problem, status)

    def translate_at(self, path: str, problem: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
        match = PATH.match(path)
        return whm_envelope((match["function"] or "") if match else "", problem, status)
