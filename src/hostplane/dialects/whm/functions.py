"""The WHM API 1 functions Hostplane answers: each one parses WHM's parameters, calls the core and shapes `data`.

Choices where Hostplane differs from WHM on purpose:
- twofactorauth_set_tfa_config and the api_token_* writes need the account password when the caller did not
  prove it: with HTTP Basic it is the password of the header; with a session or an API token it is the extra
  parameter `password` (the core never lets 2FA change without the password, nor an API key change keys
  without it). On success set_tfa_config also returns the ten recovery codes (`data.recovery_codes`), shown once.
- twofactorauth_get_tfa_config_for_user never reads a TOTP secret back: `primary_account` is present (empty)
  when the account has two-factor on and absent otherwise.
- twofactorauth_get_user_configs reports `primary_domain` as "" until accounts own domains.
- api_token_update keeps the ACLs, the address list and the expiry that are not given (WHM resets a missing
  `acl` to all privileges and a missing `expires_at` to never; a rename must not widen a token).
- Token names are the API key descriptions, unique per account; a key made elsewhere without a usable name is
  listed under its identifier.
- create_user_session returns a one-time URL (it logs in once, within `one_time_login_seconds`); `app` only
  travels in the goto path (`/?app=<name>`, Hostplane has no cPanel applications), `goto_uri` may set the path
  itself, and `preferred_domain` the host name of the URL (default: the `panel_hostname` setting).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hostplane import validation
from hostplane.accounts.admin import UserAdminService
from hostplane.accounts.service import KEEP, AccountService, Keep
from hostplane.auth.models import ApiKey, User
from hostplane.auth.principal import Principal
from hostplane.auth.service import API_KEY_PREFIX
from hostplane.auth.websessions import SERVICES, WebSessionService
from hostplane.dialects.cpanel_sessions.routes import ticket_url
from hostplane.dialects.whm import acls
from hostplane.errors import InvalidInput, NotFound
from hostplane.panel.service import PanelSettingsService
from hostplane.runtime import Runtime

TOKEN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
APP_NAME = re.compile(r"^[A-Za-z0-9_*-]{1,64}$")
NUMBERED = re.compile(r"^(?P<name>[a-z_-]+)-(?P<index>\d{1,4})$")
Data = dict[str, Any] | None


class WhmFailure(Exception):
    """A refusal answered as `result: 0` with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Params:
    """WHM parameters from the query string and a form body (later values win for single parameters)."""

    pairs: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        found = [value for key, value in self.pairs if key == name]
        return found[-1] if found else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None or not value.strip():
            raise WhmFailure(f"The parameter “{name}” is required.")
        return value

    def has(self, *names: str) -> bool:
        return any(self.many(name) for name in names)

    def many(self, *names: str) -> list[str]:
        """`name`, repeated `name`, and `name-0`, `name-1`, ... in index order (WHM's way to send lists);
        several spellings may be given (WHM's own examples mix `whitelist_ip-N` and `whitelist-ip-N`)."""
        plain: list[str] = []
        numbered: list[tuple[int, str]] = []
        for key, value in self.pairs:
            if key in names:
                plain.append(value)
                continue
            match = NUMBERED.match(key)
            if match and match["name"] in names:
                numbered.append((int(match["index"]), value))
        return plain + [value for _, value in sorted(numbered, key=lambda item: item[0])]


@dataclass
class Call:
    runtime: Runtime
    principal: Principal
    params: Params
    proven_password: str | None
    """The password of an HTTP Basic login, which proves it for changes that need it."""

    def password(self) -> str | None:
        return self.proven_password or self.params.get("password")


Handler = Callable[[Call], Awaitable[Data]]


@dataclass(frozen=True)
class Function:
    handler: Handler
    area: str
    write: bool
    during_two_factor_setup: bool = False
    """Allowed while the two-factor policy waits for the caller to set two-factor up."""


# --- two-factor ------------------------------------------------------------------------------------------


async def generate_tfa_config(call: Call) -> Data:
    setup = await AccountService(call.runtime).start_two_factor(call.principal)
    return {"otpauth_str": setup.otpauth_uri, "secret": setup.secret}


async def set_tfa_config(call: Call) -> Data:
    secret = call.params.required("secret")
    code = call.params.required("tfa_token")
    codes = await AccountService(call.runtime).enable_two_factor(call.principal, code, call.password(), secret=secret)
    return {"success": 1, "recovery_codes": codes}


async def get_issuer(call: Call) -> Data:
    issuer = await PanelSettingsService(call.runtime).two_factor_issuer()
    return {"issuer": issuer, "system_wide_issuer": issuer}


async def set_issuer(call: Call) -> Data:
    await PanelSettingsService(call.runtime).set_two_factor_issuer(call.principal.actor, call.params.required("issuer"))
    return None


async def _user_named(call: Call, name: str) -> User:
    return await UserAdminService(call.runtime).find_user(validation.username(name, "user"))


async def get_tfa_config_for_user(call: Call) -> Data:
    user = await _user_named(call, call.params.required("user"))
    config: dict[str, Any] = {"email": {}, "team": {}}
    if user.twofa_enabled:
        config["primary_account"] = {}
    return {user.username: config}


async def get_user_configs(call: Call) -> Data:
    wanted = call.params.get("user")
    users = [await _user_named(call, wanted)] if wanted else await UserAdminService(call.runtime).list_users()
    return {user.username: {"is_enabled": int(user.twofa_enabled), "primary_domain": ""} for user in users}


async def remove_user_config(call: Call) -> Data:
    names = call.params.many("user")
    if not names:
        raise WhmFailure("The parameter “user” is required.")
    service = UserAdminService(call.runtime)
    modified: list[str] = []
    failed: dict[str, str] = {}
    for name in names:
        try:
            user = await _user_named(call, name)
            await service.reset_two_factor(call.principal.actor, user.id)
        except (NotFound, InvalidInput) as exc:
            failed[name[:64]] = exc.detail
        else:
            modified.append(user.username)
    if not modified:
        raise WhmFailure(next(iter(failed.values())))
    return {"users_modified": modified, "failed": failed}


async def policy_status(call: Call) -> Data:
    return {"is_enabled": int(await PanelSettingsService(call.runtime).two_factor_policy())}


async def enable_policy(call: Call) -> Data:
    await PanelSettingsService(call.runtime).set_two_factor_policy(call.principal.actor, True)
    return None


async def disable_policy(call: Call) -> Data:
    await PanelSettingsService(call.runtime).set_two_factor_policy(call.principal.actor, False)
    return None


# --- API tokens ------------------------------------------------------------------------------------------


def _epoch(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _token_name(value: str, parameter: str = "token_name") -> str:
    validation.reject_control_chars(parameter, value)
    if not TOKEN_NAME.match(value):
        raise WhmFailure(
            f"The “{parameter}” may only contain letters, digits, dashes and underscores, at most 50 characters."
        )
    return value


def _expiry(call: Call) -> dt.datetime | Keep | None:
    raw = call.params.get("expires_at")
    if raw is None:
        return KEEP
    if not (raw.strip().isascii() and raw.strip().isdigit()) or len(raw.strip()) > 12:
        raise WhmFailure("The “expires_at” parameter must be a Unix timestamp, or 0 for no expiry.")
    seconds = int(raw)
    return None if seconds == 0 else dt.datetime.fromtimestamp(seconds, dt.UTC)


def _scopes(call: Call) -> list[str] | None:
    if not call.params.has("acl"):
        return None
    try:
        return acls.scopes_for(call.params.many("acl"))
    except acls.UnsupportedAcl as exc:
        raise WhmFailure(str(exc)) from exc


def _whitelist(call: Call) -> list[str] | None:
    entries = call.params.many("whitelist_ip", "whitelist-ip")
    if not entries:
        return None
    if entries == ["any"]:
        return []
    return entries


def key_names(keys: list[ApiKey]) -> dict[str, ApiKey]:
    """Each key by its WHM name: its description, or its identifier when the description is not a valid name
    or is already taken by an earlier key."""
    named: dict[str, ApiKey] = {}
    for key in keys:
        name = key.description if TOKEN_NAME.match(key.description or "") else key.identifier
        named[name if name not in named else key.identifier] = key
    return named


def _details(name: str, key: ApiKey) -> dict[str, Any]:
    return {
        "acls": acls.acls_of(list(key.scopes or [])),
        "create_time": _epoch(key.created_at),
        "expires_at": _epoch(key.expires_at),
        "name": name,
        "whitelist_ips": list(key.allowed_ips) or None,
    }


async def _named(call: Call) -> dict[str, ApiKey]:
    return key_names(await AccountService(call.runtime).list_api_keys(call.principal))


async def api_token_create(call: Call) -> Data:
    name = _token_name(call.params.required("token_name"))
    expiry = _expiry(call)
    created = await AccountService(call.runtime).create_api_key(
        call.principal,
        description=name,
        scopes=_scopes(call) or [],
        allowed_ips=_whitelist(call) or [],
        expires_at=None if isinstance(expiry, Keep) else expiry,
        password=call.password(),
        unique_description=True,
    )
    return {**_details(name, created.key), "token": created.token}


async def api_token_list(call: Call) -> Data:
    tokens = {}
    for name, key in (await _named(call)).items():
        tokens[name] = {**_details(name, key), "acls": acls.acl_table(list(key.scopes or []))}
    return {"tokens": tokens}


async def api_token_update(call: Call) -> Data:
    name = _token_name(call.params.required("token_name"))
    new_name = call.params.get("new_name")
    if new_name is not None:
        new_name = _token_name(new_name, "new_name")
    key = (await _named(call)).get(name)
    if key is None:
        raise WhmFailure(f"The API token “{name}” does not exist.")
    updated = await AccountService(call.runtime).update_api_key(
        call.principal,
        key.identifier,
        description=new_name,
        scopes=_scopes(call),
        allowed_ips=_whitelist(call),
        expires_at=_expiry(call),
        password=call.password(),
        unique_description=True,
    )
    return _details(new_name or name, updated)


async def api_token_revoke(call: Call) -> Data:
    names = [_token_name(value) for value in call.params.many("token_name")]
    if not names:
        raise WhmFailure("The parameter “token_name” is required.")
    named = await _named(call)
    missing = [name for name in names if name not in named]
    if missing:
        raise WhmFailure(f"The API token “{missing[0]}” does not exist.")
    service = AccountService(call.runtime)
    for name in dict.fromkeys(names):
        await service.delete_api_key(call.principal, named[name].identifier, call.password())
    return None


async def api_token_get_details(call: Call) -> Data:
    token = call.params.required("token").strip()
    key = await AccountService(call.runtime).find_api_key_by_token(call.principal, full_token(token))
    if key is None:
        return None
    name = next(name for name, candidate in (await _named(call)).items() if candidate.id == key.id)
    return _details(name, key)


# --- single sign-on -----------------------------------------------------------------------------------


async def create_user_session(call: Call) -> Data:
    service = call.params.required("service").strip()
    if service not in SERVICES:
        raise WhmFailure(f"The “service” parameter must be one of: {', '.join(SERVICES)}.")
    user = call.params.required("user")
    goto = call.params.get("goto_uri")
    app = call.params.get("app")
    if app:
        if not APP_NAME.match(app):
            raise WhmFailure("The “app” parameter is not a valid application name.")
        goto = goto or f"/?app={app}"
    host = call.params.get("preferred_domain")
    if host:
        host = validation.hostname(host, "preferred_domain")
    issued = await WebSessionService(call.runtime).issue_ticket(call.principal, service, user, goto_uri=goto or "/")
    return {
        "cp_security_token": f"/cpsess{issued.security_token}",
        "expires": int(issued.expires_at.timestamp()),
        "service": service,
        "session": issued.ticket,
        "url": ticket_url(call.runtime, issued, host),
    }


def full_token(token: str) -> str:
    """A WHM token as sent: the full `hp_...` key, or its part after the prefix."""
    return token if token.startswith(API_KEY_PREFIX) else f"{API_KEY_PREFIX}{token}"


FUNCTIONS: dict[str, Function] = {
    "twofactorauth_generate_tfa_config": Function(generate_tfa_config, "account", True, True),
    "twofactorauth_set_tfa_config": Function(set_tfa_config, "account", True, True),
    "twofactorauth_get_issuer": Function(get_issuer, "account", False, True),
    "twofactorauth_set_issuer": Function(set_issuer, "admin", True),
    "twofactorauth_get_tfa_config_for_user": Function(get_tfa_config_for_user, "admin", False),
    "twofactorauth_get_user_configs": Function(get_user_configs, "admin", False),
    "twofactorauth_remove_user_config": Function(remove_user_config, "admin", True),
    "twofactorauth_policy_status": Function(policy_status, "admin", False),
    "twofactorauth_enable_policy": Function(enable_policy, "admin", True),
    "twofactorauth_disable_policy": Function(disable_policy, "admin", True),
    "api_token_create": Function(api_token_create, "account", True),
    "api_token_list": Function(api_token_list, "account", False),
    "api_token_update": Function(api_token_update, "account", True),
    "api_token_revoke": Function(api_token_revoke, "account", True),
    "api_token_get_details": Function(api_token_get_details, "account", False),
    "create_user_session": Function(create_user_session, "admin", True),
}
