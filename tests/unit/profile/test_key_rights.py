"""The rights rule for keys that manage keys (profile/key_rights.py), on principals alone: no database, no HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hostplane.auth.models import User
from hostplane.auth.principal import Client, Principal
from hostplane.errors import PermissionDenied
from hostplane.profile.key_rights import check_within_rights, may_manage_keys

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def by_key(
    scopes: tuple[str, ...] = (), allowed_ips: tuple[str, ...] = (), expires_at: dt.datetime | None = None
) -> Principal:
    return Principal(
        user=User(username="alice"),
        client=Client("203.0.113.7"),
        api_key_identifier="A" * 16,
        scopes=scopes,
        allowed_ips=allowed_ips,
        key_expires_at=expires_at,
    )


def new_key(
    scopes: tuple[str, ...] = (), allowed_ips: tuple[str, ...] = (), expires_at: dt.datetime | None = None
) -> dict[str, Any]:
    return {"scopes": list(scopes), "allowed_ips": list(allowed_ips), "expires_at": expires_at}


def test_a_session_may_make_any_key() -> None:
    session = Principal(user=User(username="alice"), client=Client("203.0.113.7"), session_id="s")
    check_within_rights(session, **new_key())
    check_within_rights(session, **new_key(("admin:write",), ("198.51.100.0/24",), NOW))


def test_a_full_access_key_may_make_any_key() -> None:
    check_within_rights(by_key(), **new_key())
    check_within_rights(by_key(), **new_key(("*:write",), ("2001:db8::/32",), NOW))


@pytest.mark.parametrize(
    ("own", "wanted"),
    [
        (("account:write",), ("account:read",)),
        (("account:write",), ("account:write",)),
        (("*:write", "account:write"), ("domains:write", "mail:read")),
        (("*:read", "account:write"), ("*:read",)),
    ],
)
def test_scopes_within_the_keys_own_are_allowed(own: tuple[str, ...], wanted: tuple[str, ...]) -> None:
    check_within_rights(by_key(own), **new_key(wanted))


@pytest.mark.parametrize(
    ("own", "wanted"),
    [
        (("account:write",), ("domains:read",)),
        (("account:write", "domains:read"), ("domains:write",)),
        (("account:write", "domains:read"), ("*:read",)),
        (("*:read", "account:write"), ("*:write",)),
        (("account:write",), ()),
        (("*:write",), ()),  # a scoped key names the scopes it gives, even when its own cover every area
    ],
)
def test_scopes_beyond_the_keys_own_are_refused(own: tuple[str, ...], wanted: tuple[str, ...]) -> None:
    with pytest.raises(PermissionDenied):
        check_within_rights(by_key(own), **new_key(wanted))


@pytest.mark.parametrize(
    ("own", "wanted"),
    [
        (("203.0.113.0/24",), ("203.0.113.7/32",)),
        (("203.0.113.0/24",), ("203.0.113.0/24",)),
        (("203.0.113.0/24", "2001:db8::/32"), ("203.0.113.128/25", "2001:db8:1::/48")),
        (("2001:db8::/32",), ("2001:db8::1/128",)),
    ],
)
def test_an_address_list_inside_the_keys_own_is_allowed(own: tuple[str, ...], wanted: tuple[str, ...]) -> None:
    check_within_rights(by_key(allowed_ips=own), **new_key(allowed_ips=wanted))


@pytest.mark.parametrize(
    ("own", "wanted"),
    [
        (("203.0.113.0/24",), ()),
        (("203.0.113.0/24",), ("198.51.100.0/24",)),
        (("203.0.113.0/24",), ("203.0.112.0/23",)),
        (("203.0.113.0/24",), ("0.0.0.0/0",)),
        (("203.0.113.0/24",), ("::/0",)),
        (("203.0.113.0/24",), ("::ffff:cb00:7100/120",)),  # the same addresses, but IPv6: refused, never widened
        (("2001:db8::/32",), ("203.0.113.7/32",)),
    ],
)
def test_an_address_list_beyond_the_keys_own_is_refused(own: tuple[str, ...], wanted: tuple[str, ...]) -> None:
    with pytest.raises(PermissionDenied):
        check_within_rights(by_key(allowed_ips=own), **new_key(allowed_ips=wanted))


def test_an_expiry_no_later_than_the_keys_own_is_allowed() -> None:
    check_within_rights(by_key(expires_at=NOW), **new_key(expires_at=NOW))
    check_within_rights(by_key(expires_at=NOW), **new_key(expires_at=NOW - dt.timedelta(days=5)))


@pytest.mark.parametrize("expires_at", [NOW + dt.timedelta(seconds=1), None])
def test_an_expiry_later_than_the_keys_own_or_none_is_refused(expires_at: dt.datetime | None) -> None:
    with pytest.raises(PermissionDenied):
        check_within_rights(by_key(expires_at=NOW), **new_key(expires_at=expires_at))


@pytest.mark.parametrize("scopes", [("account:read",), ("domains:write",), ("*:read",)])
def test_a_key_without_account_write_manages_no_key(scopes: tuple[str, ...]) -> None:
    with pytest.raises(PermissionDenied):
        may_manage_keys(by_key(scopes))
    with pytest.raises(PermissionDenied):
        check_within_rights(by_key(scopes), **new_key(scopes))
