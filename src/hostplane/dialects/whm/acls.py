"""WHM access-control-list names and Hostplane API key scopes.

A WHM API token's ACLs become the scopes of the Hostplane API key behind it:

- `all` (or no ACL at all, as WHM's default) -> full access (a key without scopes);
- every other supported ACL -> the one scope in ACL_SCOPES (several ACLs share a scope);
- an ACL Hostplane cannot express is refused, naming it, rather than silently widened or dropped.

Read back (api_token_list/get_details), a key shows every ACL its scopes grant: a key made with `create-acct`
holds `admin:write` and so may also kill accounts, and it says so.
"""

from __future__ import annotations

from collections.abc import Iterable

FULL_ACCESS = "all"
ACL_SCOPES: dict[str, str] = {
    "list-accts": "admin:read",
    "acct-summary": "admin:read",
    "create-acct": "admin:write",
    "kill-acct": "admin:write",
    "suspend-acct": "admin:write",
    "edit-account": "admin:write",
    "passwd": "admin:write",
    "create-dns": "domains:write",
    "edit-dns": "domains:write",
    "kill-dns": "domains:write",
    "park-dns": "domains:write",
    "ssl-info": "tls:read",
    "ssl": "tls:write",
    "ssl-gencrt": "tls:write",
}
KNOWN_ACLS = (FULL_ACCESS, *sorted(ACL_SCOPES))


class UnsupportedAcl(ValueError):
    def __init__(self, acl: str) -> None:
        super().__init__(
            f"The privilege “{acl}” cannot be expressed as a Hostplane API key scope; "
            f"use one of: {', '.join(KNOWN_ACLS)}."
        )


def scopes_for(acls: Iterable[str]) -> list[str]:
    """The key scopes for a token's ACLs; [] (full access) for `all` or for none at all."""
    wanted = list(acls)
    for acl in wanted:
        if acl != FULL_ACCESS and acl not in ACL_SCOPES:
            raise UnsupportedAcl(acl)
    if not wanted or FULL_ACCESS in wanted:
        return []
    return sorted({ACL_SCOPES[acl] for acl in wanted})


def grants(scopes: Iterable[str], area: str, *, write: bool) -> bool:
    """Whether key scopes allow (area, write): the same rule as Principal.allows."""
    held = set(scopes)
    if not held:
        return True
    wanted = {f"{area}:write", "*:write"} if write else {f"{area}:read", f"{area}:write", "*:read", "*:write"}
    return not wanted.isdisjoint(held)


def _acl_granted(scopes: list[str], acl: str) -> bool:
    area, _, mode = ACL_SCOPES[acl].partition(":")
    return grants(scopes, area, write=mode == "write")


def acls_of(scopes: list[str]) -> list[str]:
    """The ACL names a key's scopes grant, as a list (api_token_create/update/get_details)."""
    if not scopes:
        return [FULL_ACCESS]
    return [acl for acl in sorted(ACL_SCOPES) if _acl_granted(scopes, acl)]


def acl_table(scopes: list[str]) -> dict[str, int]:
    """Every known ACL with 1 (granted) or 0, as api_token_list shows them."""
    table = {FULL_ACCESS: 1 if not scopes else 0}
    table.update({acl: 1 if _acl_granted(scopes, acl) else 0 for acl in sorted(ACL_SCOPES)})
    return table


def acls_needed(area: str, *, write: bool) -> list[str]:
    """The ACLs any one of which lets a token call a function of (area, write)."""
    return [FULL_ACCESS] + [acl for acl in sorted(ACL_SCOPES) if grants([ACL_SCOPES[acl]], area, write=write)]
