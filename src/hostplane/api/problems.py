"""RFC 9457 problem details for the native API: the one place core errors become HTTP."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hostplane.errors import AuthenticationRequired, HostplaneError, InvalidCredentials, TooManyAttempts

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("hostplane.api")


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {"type": f"https://hostplane.dev/problems/{code}", "title": title, "status": status, "detail": detail}
    body["code"] = code
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def from_error(error: HostplaneError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if error.fields:
        extra["errors"] = [{"field": f.field, "message": f.message, "rule": f.rule} for f in error.fields]
    response = problem(error.status, error.title, error.detail, error.code, **extra)
    if isinstance(error, TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, AuthenticationRequired | InvalidCredentials):
        response.headers["WWW-Authenticate"] = 'Bearer realm="hostplane"'
    return response


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    """422 with one entry per bad field; the offending input is never echoed back (it may be a password)."""
    errors = [
        {
            "field": _location(tuple(item.get("loc", ()))),
            "message": item.get("msg", "invalid"),
            "rule": item.get("type", "invalid"),
        }
        for item in exc.errors()
    ]
    return problem(422, "Invalid input", "The request is not valid.", "invalid_input", errors=errors)


def install(app: FastAPI) -> None:
    async def on_hostplane_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HostplaneError)
        return from_error(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_problem(exc)

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        titles = {404: ("Not found", "not_found"), 405: ("Method not allowed", "method_not_allowed")}
        title, code = titles.get(exc.status_code, ("Error", "http_error"))
        response = problem(exc.status_code, title, str(exc.detail), code)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "Internal error", "Something went wrong; it has been logged.", "internal_error")

    app.add_exception_handler(HostplaneError, on_hostplane_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
