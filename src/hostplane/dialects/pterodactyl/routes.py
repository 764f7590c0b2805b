"""Pterodactyl's (and Pelican's) client account API on the user port, under /api/client/account.

Every route authenticates the bearer credential (a login token or an API key) for the account area, calls the
same AccountService as the native API, and renders the result with `shapes`; errors get Pterodactyl's envelope in
`errors.PterodactylErrors`. No rule lives here.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from hostplane.api.deps import AccountPrincipal, account_principal
from hostplane.dialects.pterodactyl import requests as r
from hostplane.dialects.pterodactyl import shapes
from hostplane.dialects.pterodactyl.errors import InvalidFilterQuery, InvalidSortQuery
from hostplane.errors import InvalidInput, NotFound
from hostplane.profile.service import AccountService

router = APIRouter(prefix="/api/client/account", tags=["pterodactyl"], dependencies=[Depends(account_principal)])
NO_CONTENT = status.HTTP_204_NO_CONTENT
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
SORTS = {"timestamp": False, "-timestamp": True}
"""Pterodactyl's only activity sort, and whether it puts the newest first."""


async def _service(request: Request) -> AccountService:
    return AccountService(request.app.state.runtime)


ServiceDep = Annotated[AccountService, Depends(_service)]


def _no_content() -> Response:
    return Response(status_code=NO_CONTENT)


@router.get("")
async def get_account(principal: AccountPrincipal) -> JSONResponse:
    return JSONResponse(shapes.account(principal.user))


@router.put("/email", status_code=NO_CONTENT)
async def update_email(body: r.EmailChange, principal: AccountPrincipal, service: ServiceDep) -> Response:
    await service.change_email(principal, body.email, body.password)
    return _no_content()


@router.put("/password", status_code=NO_CONTENT)
async def update_password(body: r.PasswordChange, principal: AccountPrincipal, service: ServiceDep) -> Response:
    """Every other session of the account ends (the core's rule)."""
    await service.change_password(principal, body.current_password, body.password, body.password_confirmation)
    return _no_content()


@router.get("/two-factor")
async def two_factor_setup(principal: AccountPrincipal, service: ServiceDep) -> JSONResponse:
    """A fresh secret and its QR code; 400 when two-factor is already on."""
    return JSONResponse(shapes.two_factor_setup(await service.start_two_factor(principal)))


@router.post("/two-factor")
async def two_factor_enable(body: r.TwoFactorEnable, principal: AccountPrincipal, service: ServiceDep) -> JSONResponse:
    codes = await service.enable_two_factor(principal, body.code, body.password)
    return JSONResponse(shapes.recovery_tokens(codes))


@router.post("/two-factor/disable", status_code=NO_CONTENT)
async def two_factor_disable(body: r.PasswordProof, principal: AccountPrincipal, service: ServiceDep) -> Response:
    await service.disable_two_factor(principal, body.password)
    return _no_content()


@router.delete("/two-factor", status_code=NO_CONTENT)
async def two_factor_delete(
    principal: AccountPrincipal,
    service: ServiceDep,
    body: Annotated[r.OptionalPasswordProof | None, Body()] = None,
    password: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """The older way to switch two-factor off: the password in the JSON body, or (older clients) in the query."""
    given = body.password if body is not None and body.password else password
    await service.disable_two_factor(principal, given or "")
    return _no_content()


def _integer(value: str) -> int | None:
    """A whole number as Laravel's `integer` rule reads it: ASCII digits only (str.isdigit() also says yes to "²"
    and other digits int() refuses)."""
    digits = value.strip()
    return int(digits) if digits.isascii() and digits.isdigit() else None


def _per_page(value: str | None) -> int:
    if value is None:
        return DEFAULT_PER_PAGE
    number = _integer(value)
    if number is None:
        raise InvalidInput.on("per_page", "The per page must be an integer.", "integer")
    if number < 1:
        raise InvalidInput.on("per_page", "The per page must be at least 1.", "min")
    return min(number, MAX_PER_PAGE)


def _page(value: str | None) -> int:
    """Laravel's paginator: anything but a positive integer is page 1."""
    number = None if value is None else _integer(value)
    if number is None or number < 1:
        return 1
    return min(number, MAX_PAGE)


def _newest_first(sort: str | None) -> bool:
    if sort is None or not sort.strip():
        return True
    wanted = [part.strip() for part in sort.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in SORTS]
    if unknown:
        raise InvalidSortQuery(
            f"Requested sort(s) `{', '.join(unknown)}` is not allowed. Allowed sort(s) are `timestamp`."
        )
    return SORTS[wanted[0]]


@router.get("/activity")
async def list_activity(
    request: Request,
    principal: AccountPrincipal,
    service: ServiceDep,
    event: Annotated[str | None, Query(alias="filter[event]", max_length=255)] = None,
    sort: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[str | None, Query(max_length=16)] = None,
    per_page: Annotated[str | None, Query(max_length=16)] = None,
) -> JSONResponse:
    """The account's activity: `filter[event]` matches a part of Pterodactyl's event name (comma-separated parts
    match any), `sort` is `timestamp` or `-timestamp` (the default, newest first), `page` and `per_page` (25, at
    most 100) as Laravel's paginator reads them."""
    unknown = sorted(key for key in request.query_params if key.startswith("filter[") and key != "filter[event]")
    if unknown:
        names = ", ".join(key.removeprefix("filter[").rstrip("]") for key in unknown)
        raise InvalidFilterQuery(f"Requested filter(s) `{names}` are not allowed. Allowed filter(s) are `event`.")
    events = shapes.core_events_matching(event) if event and event.strip(" ,") else None
    found = await service.activity(
        principal, events=events, page=_page(page), per_page=_per_page(per_page), newest_first=_newest_first(sort)
    )

    def url_of_page(number: int) -> str:
        return str(request.url.include_query_params(page=number))

    return JSONResponse(shapes.activity_list(found, principal.user, url_of_page))


@router.get("/api-keys")
async def list_api_keys(principal: AccountPrincipal, service: ServiceDep) -> JSONResponse:
    return JSONResponse(shapes.listing(shapes.api_key(key) for key in await service.list_api_keys(principal)))


@router.post("/api-keys")
async def create_api_key(body: r.ApiKeyCreate, principal: AccountPrincipal, service: ServiceDep) -> JSONResponse:
    """200 with the key, and its secret token in `meta.secret_token`: shown this once."""
    created = await service.create_api_key(
        principal,
        description=body.description,
        scopes=[],
        allowed_ips=body.allowed_ips or [],
        expires_at=None,
        password=body.password,
    )
    return JSONResponse(shapes.api_key(created.key, secret_token=created.token))


@router.delete("/api-keys/{identifier}", status_code=NO_CONTENT)
async def delete_api_key(
    identifier: str,
    principal: AccountPrincipal,
    service: ServiceDep,
    body: Annotated[r.OptionalPasswordProof | None, Body()] = None,
) -> Response:
    await service.delete_api_key(principal, identifier, body.password if body is not None else None)
    return _no_content()


@router.get("/ssh-keys")
async def list_ssh_keys(principal: AccountPrincipal, service: ServiceDep) -> JSONResponse:
    return JSONResponse(shapes.listing(shapes.ssh_key(key) for key in await service.list_ssh_keys(principal)))


@router.post("/ssh-keys")
async def add_ssh_key(body: r.SshKeyCreate, principal: AccountPrincipal, service: ServiceDep) -> JSONResponse:
    key = await service.add_ssh_key(principal, body.name, body.public_key, body.password)
    return JSONResponse(shapes.ssh_key(key))


@router.post("/ssh-keys/remove", status_code=NO_CONTENT)
async def remove_ssh_key(body: r.SshKeyRemove, principal: AccountPrincipal, service: ServiceDep) -> Response:
    """204 whether or not the account had a key with this fingerprint, as in Pterodactyl."""
    with contextlib.suppress(NotFound):
        await service.remove_ssh_key(principal, shapes.fingerprint_in(body.fingerprint), body.password)
    return _no_content()
