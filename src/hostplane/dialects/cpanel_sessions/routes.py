"""HTTP of cPanel's secure remote logins, on each service's port (the app's role says which service it is).

- `POST /login/?login_only=1`, form fields `user`, `pass`, and where needed `tfa_token` (the two-factor code),
  optional `goto_uri` and `active_token_for_reuse`. Success: HTTP 200 `{status: 1, security_token:
  "/cpsess##########", redirect}` and the service's session cookie (cpsession / whostmgrsession /
  webmailsession: HttpOnly, SameSite=Lax, Secure over TLS). With `create_login_url=1` no cookie is set: the
  `redirect` is a one-time login path for a browser (what the remote-login library hands out).
- Refusals: `{status: 0, message, notice}` with HTTP 401 (`invalid_login`, `tfa_required`, `tfa_invalid`,
  `expired_session`, `token_denied`), 429 (`too_many_attempts`, with Retry-After) or 400 (`invalid_request`).
  An account of another service gets the same `invalid_login` as a wrong password.
- `/cpsess##########/login/?session=...` (GET or POST): a one-time login URL; sets the cookie and redirects
  (302) to `/cpsess##########<goto_uri>`. `/cpsess##########/logout/` ends the session.
- Any other `/cpsess##########/...` path answers `{status: 1, service, user, security_token, path}` to a request
  that has both the cookie and that token; the WHM functions under it live in dialects/whm.
- `/json-api/...` on the user and webmail ports is WHM's and answered HTTP 404 with cPanel's "Function not
  found" (a `cpanelresult` error), as cPanel refuses an otherwise-correct call on the wrong port.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.convertors import Convertor, register_url_convertor

from hostplane.api.deps import client_of
from hostplane.dialects import params
from hostplane.dialects.params import Params
from hostplane.errors import HostplaneError, InvalidInput, TooManyAttempts
from hostplane.runtime import Runtime
from hostplane.websessions.service import (
    COOKIE_NAMES,
    CPANELD,
    WEBMAILD,
    WHOSTMGRD,
    OpenedSession,
    WebIdentity,
    WebSessionService,
    check_goto_uri,
)
from hostplane.websessions.urls import ticket_path

ROLE_SERVICES = {"user": CPANELD, "admin": WHOSTMGRD, "webmail": WEBMAILD}
MAX_FIELDS = 20
MAX_FIELD_LENGTH = 2048
READING = params.Reading(bodies=params.FORMS, max_fields=MAX_FIELDS, max_value_chars=MAX_FIELD_LENGTH)
FUNCTION_NOT_FOUND = {
    "cpanelresult": {
        "apiversion": "2",
        "error": "Function not found",
        "data": {"reason": "Function not found", "result": "0"},
        "type": "text",
    }
}


class CpsessConvertor(Convertor[str]):
    """A path segment `cpsess##########`: routes with it never shadow any other path."""

    regex = r"cpsess[0-9]{10}"

    def convert(self, value: str) -> str:
        return value[len("cpsess") :]

    def to_string(self, value: str) -> str:
        return f"cpsess{value}"


register_url_convertor("cpsess", CpsessConvertor())

router = APIRouter(include_in_schema=False)
wrong_port = APIRouter(include_in_schema=False)
"""Only on the user and webmail ports: WHM's paths, refused as cPanel refuses them there."""


def service_of(request: Request) -> str:
    return ROLE_SERVICES[request.app.state.role]


def refusal(status_code: int, message: str, notice: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": 0, "message": message, "notice": notice}, status_code=status_code, headers=headers)


def refused(error: HostplaneError) -> JSONResponse:
    if isinstance(error, TooManyAttempts):
        return refusal(429, "too_many_attempts", error.detail, {"Retry-After": str(error.retry_after)})
    if isinstance(error, InvalidInput):
        notice = error.fields[0].message if error.fields else error.detail
        return refusal(400, "invalid_request", notice)
    if error.status == 401:
        return refusal(401, error.code, error.detail)
    return refusal(400, "invalid_request", error.detail)


async def read_fields(request: Request) -> Params:
    """Form fields (urlencoded or multipart, no files) and the query string, by the shared reader: each field once,
    at most MAX_FIELDS of at most MAX_FIELD_LENGTH characters, no control characters."""
    return await params.read_params(request, READING)


def set_session_cookie(request: Request, response: Response, service: str, opened: OpenedSession) -> None:
    response.set_cookie(
        COOKIE_NAMES[service],
        opened.cookie,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
        path="/",
    )


@router.api_route("/login/", methods=["POST"])
@router.api_route("/login", methods=["POST"])
async def login(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    service = service_of(request)
    try:
        fields = await read_fields(request)
    except HostplaneError as error:
        return refused(error)
    user, password = fields.get("user") or "", fields.get("pass") or ""
    if not user.strip() or not password:
        return refusal(400, "invalid_request", "The fields “user” and “pass” are required.")
    sessions = WebSessionService(runtime)
    client = client_of(request)
    try:
        goto = check_goto_uri(fields.get("goto_uri"))
        options: dict[str, Any] = {
            "tfa_token": fields.get("tfa_token"),
            "reuse_token": fields.get("active_token_for_reuse"),
        }
        if fields.boolean("create_login_url"):
            issued = await sessions.login_ticket(service, user, password, client, goto_uri=goto, **options)
            return JSONResponse(
                {"status": 1, "security_token": f"/cpsess{issued.security_token}", "redirect": ticket_path(issued)}
            )
        opened = await sessions.login(service, user, password, client, **options)
    except HostplaneError as error:
        return refused(error)
    token = f"/cpsess{opened.security_token}"
    response = JSONResponse({"status": 1, "security_token": token, "redirect": f"{token}{goto}"})
    set_session_cookie(request, response, service, opened)
    return response


@router.api_route("/{token:cpsess}/login/", methods=["GET", "POST"])
@router.api_route("/{token:cpsess}/login", methods=["GET", "POST"])
async def redeem(request: Request, token: str) -> Response:
    """A one-time login URL: the first visit logs in and goes on; every later one is refused."""
    runtime: Runtime = request.app.state.runtime
    service = service_of(request)
    try:
        fields = await read_fields(request)
    except HostplaneError as error:
        return refused(error)
    ticket = fields.get("session") or ""
    if not ticket:
        return refusal(400, "invalid_request", "The field “session” is required.")
    try:
        opened, goto = await WebSessionService(runtime).redeem(service, ticket, token, client_of(request))
    except HostplaneError as error:
        return refused(error)
    response = RedirectResponse(f"/cpsess{opened.security_token}{goto}", status_code=302)
    set_session_cookie(request, response, service, opened)
    return response


async def session_of(request: Request, token: str | None) -> WebIdentity:
    runtime: Runtime = request.app.state.runtime
    service = service_of(request)
    return await WebSessionService(runtime).resolve(service, request.cookies.get(COOKIE_NAMES[service]), token)


@router.api_route("/{token:cpsess}/logout/", methods=["GET", "POST"])
@router.api_route("/{token:cpsess}/logout", methods=["GET", "POST"])
async def logout(request: Request, token: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    service = service_of(request)
    try:
        await session_of(request, token)
    except HostplaneError as error:
        return refused(error)
    await WebSessionService(runtime).end(service, request.cookies.get(COOKIE_NAMES[service]))
    response = JSONResponse({"status": 1, "message": "logged_out"})
    response.delete_cookie(COOKIE_NAMES[service], path="/", httponly=True, samesite="lax")
    return response


@router.get("/{token:cpsess}/{path:path}")
async def in_session(request: Request, token: str, path: str) -> Response:
    """A page of the session (Hostplane has no cPanel themes: the answer says who is logged in, and where)."""
    try:
        identity = await session_of(request, token)
    except HostplaneError as error:
        return refused(error)
    return JSONResponse(
        {
            "status": 1,
            "service": identity.service,
            "user": identity.name,
            "security_token": f"/cpsess{identity.security_token}",
            "path": "/" + path,
            "two_factor_setup_required": identity.two_factor_setup_required,
        }
    )


@wrong_port.api_route("/json-api/{function}", methods=["GET", "POST"])
@wrong_port.api_route("/{token:cpsess}/json-api/{function}", methods=["GET", "POST"])
async def whm_on_the_wrong_port(request: Request, function: str) -> Response:
    return JSONResponse(FUNCTION_NOT_FOUND, status_code=404)
