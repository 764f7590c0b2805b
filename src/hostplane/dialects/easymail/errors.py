"""EasySuperSecureEmail's failure shape, `{"result": false, "msg": "..."}`, for everything under its prefix.

The dialect's routes raise core errors (HostplaneError) like the native routes do, and the app answers them, as
it answers unknown routes, wrong methods and the edge's own refusals (body too large, bad header), with an RFC
9457 problem document. Under the prefix this ASGI layer re-renders those documents in the dialect's shape with
the same status, except 422 (invalid input) which is 400 here: a form API has no use for the distinction.
A 5xx never carries details. Every other path passes through untouched.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp

from hostplane.dialects.rerender import ProblemRerendering

INTERNAL_MSG = "An internal error occurred; it has been logged."


def failure(status: int, msg: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"result": False, "msg": msg}, status_code=status, headers=headers)


def translated(problem: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
    """The status and body of the dialect for a native problem document."""
    if status == 422:
        status = 400
    if status >= 500:
        return status, {"result": False, "msg": INTERNAL_MSG}
    errors = problem.get("errors")
    msg = problem.get("detail")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
        msg = errors[0]["message"]
    return status, {"result": False, "msg": str(msg or problem.get("title") or "The request failed.")}


class EasymailErrors(ProblemRerendering):
    """ASGI middleware; it must wrap the edge, so that the edge's own refusals are translated too."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        super().__init__(app, prefix=prefix, translate=translated)
