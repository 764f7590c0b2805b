"""HTTP for WHM API 1 on the admin port: credentials, the envelope and dispatch to functions.py.

- `/json-api/<function>` and `/cpsess##########/json-api/<function>`, GET or POST, parameters in the query
  string and/or a form body. `api.version=1`, or no `api.version` at all: WHM's API 1 reference calls its
  functions without it, and every function served here exists only in API 1. An explicit other version (0, 2,
  ...) is refused as WHM refuses a function that version lacks.
- Credentials: `Authorization: whm <user>:<token>` (the token is a Hostplane API key of that user, `hp_...` or
  without the prefix), HTTP Basic (the core password login; with two-factor on, the current code in
  `X-CPANEL-OTP`), `Authorization: Bearer <session token>`, or (without an Authorization header) a whostmgrd
  session of the secure remote logins: its `whostmgrsession` cookie AND its token in the `/cpsess##########`
  prefix, never one without the other. Only administrators.
- Without valid credentials WHM answers HTTP 403 with a `cpanelresult` "Access denied" body; so do we.
- Everything else is HTTP 200 with `{data?, metadata: {command, reason, result, version: 1}}`, `result: 0` and
  the reason on failure; an unknown function as WHM names it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hostplane.api.deps import client_of
from hostplane.auth.principal import Principal
from hostplane.auth.service import API_KEY_PREFIX, SETUP_REQUIRED, AuthService
from hostplane.dialects import params
from hostplane.dialects.params import Params
from hostplane.dialects.whm import acls
from hostplane.dialects.whm.functions import FUNCTIONS, Call, WhmFailure, full_token
from hostplane.errors import HostplaneError, PermissionDenied, TooManyAttempts, TwoFactorSetupRequired
from hostplane.runtime import Runtime
from hostplane.websessions.service import COOKIE_NAMES, WHOSTMGRD, WebSessionService

log = logging.getLogger("hostplane.whm")
router = APIRouter(include_in_schema=False)
SECURITY_TOKEN = re.compile(r"^cpsess\d{10}$")
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
ACCESS_DENIED = {
    "cpanelresult": {
        "apiversion": "2",
        "error": "Access denied",
        "data": {"reason": "Access denied", "result": "0"},
        "type": "text",
    }
}
READING = params.Reading(bodies=params.FORMS, max_fields=200, max_value_chars=4096, repeats=True)


class AccessDenied(Exception):
    def __init__(self, retry_after: int | None = None) -> None:
        super().__init__("Access denied")
        self.retry_after = retry_after


def envelope(command: str, *, data: Any = None, reason: str = "OK", result: int = 1) -> JSONResponse:
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = data
    body["metadata"] = {"command": command, "reason": reason, "result": result, "version": 1}
    return JSONResponse(body)


def failure(command: str, reason: str) -> JSONResponse:
    return envelope(command, reason=reason, result=0)


def access_denied(retry_after: int | None = None) -> Response:
    response = Response(
        json.dumps(ACCESS_DENIED, separators=(",", ":")),
        status_code=403,
        media_type='text/plain; charset="utf-8"',
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def read_params(request: Request) -> Params:
    """Query string and form body (the shared reader: a control character anywhere is refused, so CR/LF never
    reach the core); a name may repeat (WHM's lists)."""
    return await params.read_params(request, READING)


async def authenticate(
    request: Request, runtime: Runtime, *, during_setup: bool, security_token: str | None = None
) -> tuple[Principal, str | None]:
    """The principal of the request and, for HTTP Basic, the password it proved."""
    scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
    scheme, credential = scheme.lower(), credential.strip()
    client = client_of(request)
    auth = AuthService(runtime)
    try:
        if scheme == "whm":
            username, _, token = credential.partition(":")
            principal = await auth.authenticate(full_token(token.strip()), client, two_factor_setup=during_setup)
            if not principal.by_api_key or principal.user.username != username.strip().lower():
                raise AccessDenied
            return principal, None
        if scheme == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise AccessDenied from exc
            username, colon, password = decoded.partition(":")
            if not colon or not username or not password:
                raise AccessDenied
            principal = await auth.authenticate_password(
                username,
                password,
                client,
                otp=request.headers.get("x-cpanel-otp"),
                two_factor_setup=during_setup,
            )
            return principal, password
        if scheme == "bearer" and credential and not credential.startswith(API_KEY_PREFIX):
            return await auth.authenticate(credential, client, two_factor_setup=during_setup), None
        cookie = request.cookies.get(COOKIE_NAMES[WHOSTMGRD])
        if not scheme and cookie:
            identity = await WebSessionService(runtime).resolve(WHOSTMGRD, cookie, security_token)
            if identity.two_factor_setup_required and not during_setup:
                raise TwoFactorSetupRequired(SETUP_REQUIRED)
            return identity.principal(client), None
    except TwoFactorSetupRequired:
        raise
    except TooManyAttempts as exc:
        raise AccessDenied(exc.retry_after) from exc
    except (HostplaneError, ValueError) as exc:
        raise AccessDenied from exc
    raise AccessDenied


def api_version(params: Params) -> str:
    """The API version asked for: every function Hostplane serves exists only in API 1, whose reference calls
    them without `api.version`, so an absent (or empty) one means 1."""
    version = params.get("api.version")
    return "1" if version is None or not version.strip() else version.strip()


def unknown_app(command: str, version: str) -> str:
    """WHM's reason for a function the asked version lacks: API 0 names it bare, API 1 in quotes; a version that
    is no number is shown as 0 (and never echoed)."""
    shown = version if version.isascii() and version.isdigit() and len(version) < 4 else "0"
    quoted = command if shown == "0" else f"“{command}”"
    named = f" ({quoted})" if command else ""
    return f"Unknown app{named} requested for this version ({shown}) of the API."


def _reason(error: HostplaneError) -> str:
    return error.fields[0].message if error.fields else error.detail


async def handle(request: Request, function: str, security_token: str | None = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    command = function if FUNCTION_NAME.match(function) else ""
    spec = FUNCTIONS.get(command)
    try:
        principal, password = await authenticate(
            request,
            runtime,
            during_setup=spec is not None and spec.during_two_factor_setup,
            security_token=security_token,
        )
    except AccessDenied as denied:
        return access_denied(denied.retry_after)
    except TwoFactorSetupRequired as exc:
        return failure(command, exc.detail)
    if not principal.user.is_admin:
        return access_denied()
    try:
        given = await read_params(request)
    except HostplaneError as exc:
        return failure(command, _reason(exc))
    version = api_version(given)
    if spec is None or version != "1":
        return failure(command, unknown_app(command, version))
    if not principal.allows(spec.area, write=spec.write):
        needed = ", ".join(f"“{acl}”" for acl in acls.acls_needed(spec.area, write=spec.write))
        return failure(command, f"Permission denied: this API token needs one of the privileges {needed}.")
    try:
        data = await spec.handler(Call(runtime, principal, given, password))
    except WhmFailure as refused:
        return failure(command, refused.reason)
    except PermissionDenied as exc:
        return failure(command, f"Permission denied: {exc.detail}")
    except HostplaneError as exc:
        return failure(command, _reason(exc))
    except Exception:
        log.exception("WHM API function %s failed", command)
        return failure(command, "An internal error occurred; it has been logged.")
    return envelope(command, data=data)


@router.api_route("/json-api/{function}", methods=["GET", "POST"])
async def json_api(request: Request, function: str) -> Response:
    return await handle(request, function)


@router.api_route("/{security_token}/json-api/{function}", methods=["GET", "POST"])
async def json_api_in_session(request: Request, security_token: str, function: str) -> Response:
    """The same under a `/cpsess##########` prefix, where a whostmgrd session cookie also authenticates."""
    if not SECURITY_TOKEN.match(security_token):
        raise HTTPException(status_code=404, detail="Not Found")
    return await handle(request, function, security_token.removeprefix("cpsess"))
