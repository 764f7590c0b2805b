"""OpenPanel dialect (user port): `POST /api/login` with its two-step 2FA, over the core login rules.

OpenPanel clients repeat the username and password together with `twofa_code` in the second call, so one
request runs the core's password step and, when a code is given, its second-factor step.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hostplane.api.deps import bearer_credential, client_of
from hostplane.auth.principal import Principal
from hostplane.auth.service import AuthService, TwoFactorChallenge
from hostplane.dialects import params
from hostplane.dialects.openpanel.dashboard import dashboard
from hostplane.errors import HostplaneError, TooManyAttempts
from hostplane.runtime import Runtime

router = APIRouter(tags=["openpanel"])


LOGIN_FIELDS = ("username", "password", "twofa_code")
READING = params.Reading(bodies=frozenset({params.JSON}), query=False, max_fields=len(LOGIN_FIELDS))
"""The login is a JSON object of these fields (strings), and nothing else, read by the shared guarded reader."""


@dataclass(frozen=True)
class LoginBody:
    username: str
    password: str
    twofa_code: str | None


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """OpenPanel's error shape: `{"error": "..."}` with the HTTP status."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def from_core(exc: HostplaneError) -> JSONResponse:
    status = exc.status if exc.status in (400, 401, 403, 404, 409, 429) else 400
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
    return error(status, exc.detail, headers)


async def parse_body(request: Request) -> LoginBody | JSONResponse:
    """The login fields, or OpenPanel's 400 (too large, too deeply nested, not a JSON object of strings, an unknown
    or missing field, control characters)."""
    try:
        given = await params.read_params(request, READING)
        given.only(LOGIN_FIELDS)
        return LoginBody(
            username=given.required("username", max_chars=254),
            password=given.required("password", max_chars=1024),
            twofa_code=given.optional("twofa_code", max_chars=64),
        )
    except HostplaneError as exc:
        return error(400, exc.fields[0].message if exc.fields else exc.detail)


@router.post("/api/login")
async def login(request: Request) -> JSONResponse:
    body = await parse_body(request)
    if isinstance(body, JSONResponse):
        return body
    runtime: Runtime = request.app.state.runtime
    auth, client = AuthService(runtime), client_of(request)
    try:
        outcome = await auth.login_with_code(body.username, body.password, client, body.twofa_code)
    except HostplaneError as exc:
        return from_core(exc)
    if isinstance(outcome, TwoFactorChallenge):
        return JSONResponse({"twofa_required": True, "user_id": outcome.user_id})
    return JSONResponse({"token": outcome.token, "user_id": outcome.user.id, "expires_in": outcome.expires_in})


async def _principal(request: Request) -> Principal | JSONResponse:
    """The bearer token (a login JWT or an API key with a domains scope), or OpenPanel's error answer."""
    try:
        principal = await AuthService(request.app.state.runtime).authenticate(
            bearer_credential(request), client_of(request)
        )
    except HostplaneError as exc:
        return from_core(exc)
    if not principal.allows("domains", write=False):
        return error(403, "This API key has no scope for domains.")
    return principal


@router.post("/api/domains", operation_id="openpanel_domains_post")
@router.get("/api/domains", operation_id="openpanel_domains_get")
async def domains(request: Request) -> JSONResponse:
    """The dashboard object of the reference (POST as documented; GET too). Any body is ignored."""
    principal = await _principal(request)
    if isinstance(principal, JSONResponse):
        return principal
    try:
        return JSONResponse(await dashboard(request.app.state.runtime, principal.user.id))
    except HostplaneError as exc:
        return from_core(exc)


@router.api_route("/api/domains", methods=["PUT", "PATCH", "DELETE"], include_in_schema=False)
async def domains_other_methods(request: Request) -> JSONResponse:
    principal = await _principal(request)
    if isinstance(principal, JSONResponse):
        return principal
    return error(405, "Method not allowed", {"Allow": "GET, POST"})
