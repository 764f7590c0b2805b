"""FastAPI dependencies: the runtime, the client address, and the authenticated principal."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from hostplane.auth.principal import Client, Principal
from hostplane.auth.service import AuthService, normalize_ip
from hostplane.errors import AuthenticationRequired, PermissionDenied
from hostplane.runtime import Runtime
from hostplane.settings import Network

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TWO_FACTOR_SETUP_ROUTES = frozenset(
    {
        ("GET", "/api/v1/account"),
        ("GET", "/api/v1/account/two-factor"),
        ("POST", "/api/v1/account/two-factor/setup"),
        ("POST", "/api/v1/account/two-factor"),
        ("POST", "/api/v1/auth/logout"),
        # the same steps through the Pterodactyl dialect
        ("GET", "/api/client/account"),
        ("GET", "/api/client/account/two-factor"),
        ("POST", "/api/client/account/two-factor"),
    }
)
"""What a session may still do while the two-factor policy waits for its account to set two-factor up."""


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(normalize_ip(address))
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def resolve_client_ip(peer: str, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The socket peer, unless it is a configured proxy: then the right-most X-Forwarded-For hop that is
    not itself a trusted proxy. A forwarded header from anyone else is ignored."""
    address = normalize_ip(peer)
    if not forwarded_for or not _trusted(address, proxies):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            hop_ip = normalize_ip(str(ipaddress.ip_address(hop)))
        except ValueError:
            return address
        if not _trusted(hop_ip, proxies):
            return hop_ip
        address = hop_ip
    return address


def client_of(request: Request) -> Client:
    runtime: Runtime = request.app.state.runtime
    peer = request.client.host if request.client else "0.0.0.0"  # noqa: S104 (no peer known, never a bind)
    ip = resolve_client_ip(peer, request.headers.get("x-forwarded-for"), runtime.settings.trusted_proxy_networks)
    return Client(ip=ip, user_agent=request.headers.get("user-agent", "")[:255])


async def get_client(request: Request) -> Client:
    return client_of(request)


ClientDep = Annotated[Client, Depends(get_client)]
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A login token (JWT) or an API key (hp_...), as `Authorization: Bearer <token>`.",
}


def bearer_credential(request: Request) -> str:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthenticationRequired("Send an access token or API key as 'Authorization: Bearer <token>'.")
    return credential.strip()


def authenticated(area: str, *, admin_only: bool = False) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency of every non-public route of an area: the bearer credential resolved to a principal that
    may act in the area (an API key needs a scope for it, write for anything but reads).

    One dependency without sub-dependencies, used both router-wide (so no route of the router can forget it)
    and by the routes that need the principal: FastAPI solves it once per request, and cheaply.
    """

    async def principal_for_area(request: Request) -> Principal:
        runtime: Runtime = request.app.state.runtime
        route = request.scope.get("route")
        setup = (request.method, getattr(route, "path", request.url.path)) in TWO_FACTOR_SETUP_ROUTES
        principal = await AuthService(runtime).authenticate(
            bearer_credential(request), client_of(request), two_factor_setup=setup
        )
        if admin_only and not principal.user.is_admin:
            raise PermissionDenied("This requires an administrator account.")
        if not principal.allows(area, write=request.method not in READ_METHODS):
            raise PermissionDenied(f"This API key has no scope for {area} ({request.method}).")
        return principal

    principal_for_area.__name__ = f"authenticated_{area}"
    return principal_for_area


account_principal = authenticated("account")
admin_principal = authenticated("admin", admin_only=True)
AccountPrincipal = Annotated[Principal, Depends(account_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
