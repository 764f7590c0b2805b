"""What an API key may do to the account's keys: a rule of rights, not of credential type.

A key that manages keys (a Pterodactyl client key, a WHM token with the right ACLs) needs no password, but it can
never give a key more than it holds itself: scopes within its own, an address list inside its own (a key
restricted to some addresses cannot mint an unrestricted one), and an expiry no later than its own. A read-only
key changes no key. Sessions (a person who logged in) hold every right of their account.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from hostplane.auth.principal import AREAS, Principal
from hostplane.errors import PermissionDenied


def may_manage_keys(principal: Principal) -> None:
    """Adding, changing or removing API or SSH keys needs write access to the account."""
    if not principal.allows("account", write=True):
        raise PermissionDenied("This API key is read-only for the account: it cannot change keys.")


def _granted(principal: Principal, scope: str) -> bool:
    area, _, access = scope.partition(":")
    areas = AREAS if area == "*" else (area,)
    return all(principal.allows(name, write=access == "write") for name in areas)


def _inside(network: str, own: Sequence[str]) -> bool:
    wanted = ipaddress.ip_network(network, strict=False)
    for entry in own:
        mine = ipaddress.ip_network(entry, strict=False)
        if wanted.version == mine.version and wanted.subnet_of(mine):  # type: ignore[arg-type]
            return True
    return False


def check_within_rights(
    principal: Principal, *, scopes: Sequence[str], allowed_ips: Sequence[str], expires_at: dt.datetime | None
) -> None:
    """Refuse (403) a key that would hold more than the API key making it; sessions may make any key."""
    may_manage_keys(principal)
    if not principal.by_api_key:
        return
    if principal.scopes:
        if not scopes:
            raise PermissionDenied("This API key has limited scopes: the new key needs scopes within them.")
        beyond = [scope for scope in scopes if not _granted(principal, scope)]
        if beyond:
            raise PermissionDenied(f"This API key cannot grant scopes it does not hold: {', '.join(beyond)}.")
    if principal.allowed_ips:
        if not allowed_ips:
            raise PermissionDenied("This API key is limited to some addresses: the new key must be limited too.")
        outside = [entry for entry in allowed_ips if not _inside(entry, principal.allowed_ips)]
        if outside:
            raise PermissionDenied(f"These addresses are outside this API key's own list: {', '.join(outside)}.")
    if principal.key_expires_at is not None and (expires_at is None or expires_at > principal.key_expires_at):
        raise PermissionDenied("The new key cannot outlive this API key: give it an expiry no later than its own.")
