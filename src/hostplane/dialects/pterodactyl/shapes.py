"""Core objects in Pterodactyl's JSON: resources `{object, attributes}`, lists `{object: "list", data}`, pagination
meta, and the names Pterodactyl gives to activity events.

Field by field as Pterodactyl's transformers render them (AccountTransformer, ApiKeyTransformer,
UserSSHKeyTransformer, ActivityLogTransformer): times as ATOM strings (`2024-05-01T12:00:00+00:00`), SSH key
fingerprints as phpseclib's SHA256 fingerprint (the base64 digest without the `SHA256:` prefix), activity ids as
the SHA-1 of the row id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Iterable
from typing import Any

from hostplane.activity.events import Event
from hostplane.activity.log import ActivityPage
from hostplane.activity.models import ActivityEntry
from hostplane.auth.models import ApiKey, User
from hostplane.profile.models import SshKey
from hostplane.profile.service import TwoFactorSetup

SHA256_PREFIX = "SHA256:"

PTERODACTYL_EVENTS: dict[str, str] = {
    Event.LOGIN_OK: "auth:success",
    Event.LOGIN_FAILED: "auth:fail",
    Event.LOGIN_THROTTLED: "auth:throttled",
    Event.TWOFA_CHALLENGE: "auth:checkpoint",
    Event.TWOFA_FAILED: "auth:fail",
    Event.TWOFA_REPLAY: "auth:fail",
    Event.RECOVERY_CODE_USED: "auth:recovery-token",
    Event.LOGOUT: "auth:logout",
    Event.SESSION_REVOKED: "user:session.revoke",
    Event.API_KEY_DENIED_IP: "auth:ip-blocked",
    Event.PASSWORD_CHECK_FAILED: "user:account.password-invalid",
    Event.EMAIL_CHANGED: "user:account.email-changed",
    Event.PASSWORD_CHANGED: "user:account.password-changed",
    Event.TWOFA_ENABLED: "user:two-factor.create",
    Event.TWOFA_DISABLED: "user:two-factor.delete",
    Event.API_KEY_CREATED: "user:api-key.create",
    Event.API_KEY_DELETED: "user:api-key.delete",
    Event.SSH_KEY_CREATED: "user:ssh-key.create",
    Event.SSH_KEY_DELETED: "user:ssh-key.delete",
}
"""Core event -> Pterodactyl's name for it (Pterodactyl's own where it has one: a failed second factor or a
replayed code is an `auth:fail` there too). Events not listed get `<area>:<rest>` (see `pterodactyl_event`)."""

DESCRIBED_PROPERTIES: dict[str, frozenset[str]] = {
    "auth:ip-blocked": frozenset({"identifier"}),
    "user:account.email-changed": frozenset({"old", "new"}),
    "user:api-key.create": frozenset({"identifier"}),
    "user:api-key.delete": frozenset({"identifier"}),
    "user:ssh-key.create": frozenset({"fingerprint"}),
    "user:ssh-key.delete": frozenset({"fingerprint"}),
}
"""The properties Pterodactyl's description of an event already shows; any other one is `additional metadata`."""
NEVER_ADDITIONAL = frozenset({"ip", "useragent", "using_sftp"})


def pterodactyl_event(event: str) -> str:
    """The Pterodactyl-style name of a core event: from the table, else `auth.2fa.setup_required` ->
    `auth:2fa.setup-required` (and the `account` area is Pterodactyl's `user`)."""
    named = PTERODACTYL_EVENTS.get(event)
    if named is not None:
        return named
    area, _, rest = event.partition(".")
    area = "user" if area == "account" else area
    return f"{area}:{rest.replace('_', '-')}" if rest else area


CORE_EVENTS: frozenset[str] = frozenset(Event)
"""Every event any area of the core records."""


def core_events_matching(filter_value: str) -> frozenset[str]:
    """The core events whose Pterodactyl name contains one of the comma-separated parts of `filter[event]`,
    ignoring case (Pterodactyl's partial filter)."""
    parts = [part.strip().lower() for part in filter_value.split(",") if part.strip()]
    return frozenset(event for event in CORE_EVENTS if any(part in pterodactyl_event(event).lower() for part in parts))


def atom(moment: dt.datetime) -> str:
    """Carbon's toAtomString: seconds precision, numeric UTC offset."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def resource(kind: str, attributes: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"object": kind, "attributes": attributes}
    if meta is not None:
        document["meta"] = meta
    return document


def listing(items: Iterable[dict[str, Any]], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"object": "list", "data": list(items)}
    if meta is not None:
        document["meta"] = meta
    return document


def account(user: User) -> dict[str, Any]:
    return resource(
        "user",
        {
            "id": user.id,
            "admin": user.is_admin,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "language": user.language,
        },
    )


def two_factor_setup(setup: TwoFactorSetup) -> dict[str, Any]:
    return {"data": {"image_url_data": setup.qr_png_data_url, "secret": setup.secret}}


def recovery_tokens(codes: list[str]) -> dict[str, Any]:
    return {"object": "recovery_tokens", "attributes": {"tokens": codes}}


def api_key(key: ApiKey, *, secret_token: str | None = None) -> dict[str, Any]:
    attributes = {
        "identifier": key.identifier,
        "description": key.description,
        "allowed_ips": list(key.allowed_ips or []),
        "last_used_at": atom(key.last_used_at) if key.last_used_at else None,
        "created_at": atom(key.created_at),
    }
    return resource("api_key", attributes, {"secret_token": secret_token} if secret_token is not None else None)


def fingerprint_out(core_fingerprint: str) -> str:
    return core_fingerprint.removeprefix(SHA256_PREFIX)


def fingerprint_in(given: str) -> str:
    """A fingerprint as Pterodactyl shows it (bare base64) or as OpenSSH prints it (`SHA256:...`), in core form."""
    given = given.strip()
    return given if given.startswith(SHA256_PREFIX) else SHA256_PREFIX + given


def ssh_key(key: SshKey) -> dict[str, Any]:
    return resource(
        "ssh_key",
        {
            "name": key.name,
            "fingerprint": fingerprint_out(key.fingerprint),
            "public_key": key.public_key,
            "created_at": atom(key.created_at),
        },
    )


def activity_entry(entry: ActivityEntry, viewer: User) -> dict[str, Any]:
    """One entry as Pterodactyl's activity transformer shows it to `viewer`: the address only to the one who acted
    (or an administrator)."""
    event = pterodactyl_event(entry.event)
    properties = dict(entry.properties or {})
    described = DESCRIBED_PROPERTIES.get(event, frozenset()) | NEVER_ADDITIONAL
    return resource(
        "activity_log",
        {
            "id": hashlib.sha1(str(entry.id).encode(), usedforsecurity=False).hexdigest(),
            "batch": None,
            "event": event,
            "is_api": entry.api_key is not None,
            "ip": entry.ip if entry.actor_id == viewer.id or viewer.is_admin else None,
            "description": None,
            "properties": properties,
            "has_additional_metadata": any(name not in described for name in properties),
            "timestamp": atom(entry.created_at),
        },
    )


def activity_list(page: ActivityPage, viewer: User, url_of_page: Callable[[int], str]) -> dict[str, Any]:
    """A page of entries with Pterodactyl's pagination meta (links to the previous and next pages only)."""
    total_pages = max(1, math.ceil(page.total / page.per_page))
    links: dict[str, str] = {}
    if page.page > 1:
        links["previous"] = url_of_page(min(page.page - 1, total_pages))
    if page.page < total_pages:
        links["next"] = url_of_page(page.page + 1)
    pagination = {
        "total": page.total,
        "count": len(page.entries),
        "per_page": page.per_page,
        "current_page": page.page,
        "total_pages": total_pages,
        "links": links,
    }
    return listing((activity_entry(entry, viewer) for entry in page.entries), {"pagination": pagination})
