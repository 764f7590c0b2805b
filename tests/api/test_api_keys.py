"""Specification of API keys through the native API: secrets shown once, scopes, expiry, IP allow-lists, limits,
and the rule that a key alone never changes security settings."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select, update

from hostplane.activity.log import Actor
from hostplane.app import create_app
from hostplane.auth import totp
from hostplane.auth.models import ApiKey
from hostplane.db import utcnow
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from hostplane.users.service import UserAdminService
from tests.conftest import Account, Api, activity_events

KEYS = "/api/v1/account/api-keys"
ACCOUNT = "/api/v1/account"
TOKEN = re.compile(r"^hp_[A-Za-z0-9]{16}[A-Za-z0-9]{32}$")


async def create_key(api: Api, status: int = 201, **body: Any) -> dict[str, Any]:
    response = await api.post(KEYS, json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def split(token: str) -> tuple[str, str]:
    """(identifier, secret) of an "hp_" + 16 + 32 token."""
    body = token.removeprefix("hp_")
    return body[:16], body[16:]


def ssh_public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


async def key_row(runtime: Runtime, identifier: str) -> ApiKey:
    async with runtime.reading() as db:
        row = await db.scalar(select(ApiKey).where(ApiKey.identifier == identifier))
    assert row is not None
    return row


async def logs_in(api: Api, password: str) -> bool:
    response = await api.post("/api/v1/auth/login", json={"username": "alice", "password": password})
    return response.status_code == 200


def field_names(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


# --- creating, listing, using and deleting -------------------------------------------------------------


async def test_created_key_token_has_a_public_identifier_and_a_long_secret(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, description="deploy")
    assert TOKEN.match(created["token"])
    identifier, secret = split(created["token"])
    assert created["identifier"] == identifier
    assert len(secret) == 32  # 32 characters of 62 symbols: over 190 bits
    assert created["description"] == "deploy"
    assert created["scopes"] == [] and created["allowed_ips"] == []
    assert created["expires_at"] is None and created["last_used_at"] is None


async def test_two_keys_have_different_identifiers_and_secrets(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    first, second = split((await create_key(user_api))["token"]), split((await create_key(user_api))["token"])
    assert first[0] != second[0] and first[1] != second[1]


async def test_list_never_shows_the_token(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, description="ci")
    response = await user_api.get(KEYS)
    assert response.status_code == 200
    listed = response.json()
    assert [key["identifier"] for key in listed] == [created["identifier"]]
    assert "token" not in listed[0]
    assert split(created["token"])[1] not in response.text


async def test_database_stores_only_a_hash_of_the_secret(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api))["token"]
    identifier, secret = split(token)
    row = await key_row(runtime, identifier)
    assert row.secret_hash not in (token, secret, identifier + secret)
    stored = " ".join(str(value) for value in vars(row).values())
    assert secret not in stored
    assert token not in stored


async def test_key_authenticates_requests(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api))["token"]
    response = await user_api.get(ACCOUNT, token=token)
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: t[:3] + ("A" if t[3] != "A" else "B") + t[4:],  # unknown identifier
        lambda t: t[:-1],  # too short
        lambda t: t + "A",  # too long
    ],
    ids=["wrong-secret", "unknown-identifier", "short", "long"],
)
async def test_wrong_key_is_refused_with_401(user_api: Api, alice: Account, mangle: Callable[[str], str]) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api))["token"]
    response = await user_api.get(ACCOUNT, token=mangle(token))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_list_shows_last_used_at_after_use(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api))["token"]
    assert (await user_api.get(KEYS)).json()[0]["last_used_at"] is None
    before = utcnow()
    assert (await user_api.get(ACCOUNT, token=token)).status_code == 200
    last_used = (await user_api.get(KEYS)).json()[0]["last_used_at"]
    assert last_used is not None
    assert dt.datetime.fromisoformat(last_used) >= before - dt.timedelta(seconds=1)


async def test_deleted_key_no_longer_authenticates(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    created = await create_key(user_api)
    assert (await user_api.get(ACCOUNT, token=created["token"])).status_code == 200
    response = await user_api.delete(f"{KEYS}/{created['identifier']}")
    assert response.status_code == 204
    assert (await user_api.get(ACCOUNT, token=created["token"])).status_code == 401
    assert (await user_api.get(KEYS)).json() == []
    assert len(await activity_events(runtime, alice.user.id, "account.api_key.deleted")) == 1


async def test_deleting_another_users_key_is_not_found(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    await user_api.login(alice)
    created = await create_key(user_api)
    bob: Account = await make_account("bob")
    await user_api.login(bob)
    assert (await user_api.delete(f"{KEYS}/{created['identifier']}")).status_code == 404
    assert (await user_api.get(ACCOUNT, token=created["token"])).status_code == 200


async def test_creating_a_key_is_logged_without_the_secret(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api))["token"]
    identifier, secret = split(token)
    [entry] = await activity_events(runtime, alice.user.id, "account.api_key.created")
    assert entry.properties == {"identifier": identifier}
    assert secret not in str(entry.properties)


# --- limits and validation ---------------------------------------------------------------------------


async def test_at_most_25_keys_per_user(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    for number in range(25):
        await create_key(user_api, description=f"key {number}")
    response = await user_api.post(KEYS, json={"description": "one too many"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "limit_reached"
    assert len((await user_api.get(KEYS)).json()) == 25


async def test_allow_list_of_50_entries_is_accepted(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    entries = [f"192.0.2.{n}" for n in range(1, 51)]
    assert (await create_key(user_api, allowed_ips=entries))["allowed_ips"] == entries


async def test_allow_list_of_more_than_50_entries_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"allowed_ips": [f"192.0.2.{n}" for n in range(1, 52)]})
    assert response.status_code == 422
    assert field_names(response) == ["allowed_ips"]
    assert (await user_api.get(KEYS)).json() == []


@pytest.mark.parametrize(
    "bad",
    ["10.0.0.256", "10.0.0.0/33", "2001:db8::/129", "not-an-ip", "10.0.0", "", "2001:db8:::1", "10.0.0.0/8/8"],
)
async def test_bad_allow_list_entry_is_refused_naming_its_position(user_api: Api, alice: Account, bad: str) -> None:
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"allowed_ips": ["192.0.2.1", bad]})
    assert response.status_code == 422
    assert field_names(response) == ["allowed_ips.1"]
    assert (await user_api.get(KEYS)).json() == []


async def test_every_bad_allow_list_entry_is_named(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"allowed_ips": ["hodor", "127.0.0.1", "hodor/24"]})
    assert response.status_code == 422
    assert field_names(response) == ["allowed_ips.0", "allowed_ips.2"]
    assert [error["message"] for error in response.json()["errors"]] == [
        '"hodor" is not a valid IP address or CIDR range.',
        '"hodor/24" is not a valid IP address or CIDR range.',
    ]


async def test_allow_list_takes_ipv4_and_ipv6_addresses_and_ranges_in_canonical_form(
    user_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    created = await create_key(
        user_api, allowed_ips=["10.0.0.0/8", "192.0.2.10", "2001:DB8::/32", "2001:db8:0:0::1", "10.1.2.3/8"]
    )
    assert created["allowed_ips"] == ["10.0.0.0/8", "192.0.2.10", "2001:db8::/32", "2001:db8::1"]


async def test_unknown_scope_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"scopes": ["account:read", "account:admin"]})
    assert response.status_code == 422
    assert field_names(response) == ["scopes.1"]


async def test_expiry_in_the_past_is_refused_at_creation(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    past = (utcnow() - dt.timedelta(minutes=1)).isoformat()
    response = await user_api.post(KEYS, json={"expires_at": past})
    assert response.status_code == 422
    assert field_names(response) == ["expires_at"]
    assert (await user_api.get(KEYS)).json() == []


async def test_expiry_without_a_time_zone_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"expires_at": "2999-01-01T00:00:00"})
    assert response.status_code == 422
    assert field_names(response) == ["expires_at"]


async def test_key_works_until_it_expires(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, expires_at=(utcnow() + dt.timedelta(days=1)).isoformat())
    assert (await user_api.get(ACCOUNT, token=created["token"])).status_code == 200
    async with runtime.writing() as db:
        await db.execute(
            update(ApiKey)
            .where(ApiKey.identifier == created["identifier"])
            .values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1))
        )
    runtime.credentials.clear()  # the clock moved past the expiry: what the cache would see once its TTL ends
    assert (await user_api.get(ACCOUNT, token=created["token"])).status_code == 401


async def test_key_of_a_disabled_user_is_refused(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api))["token"]
    await UserAdminService(runtime).set_disabled(Actor(None, "test"), alice.user.id, True)
    assert (await user_api.get(ACCOUNT, token=token)).status_code == 401
    await UserAdminService(runtime).set_disabled(Actor(None, "test"), alice.user.id, False)
    assert (await user_api.get(ACCOUNT, token=token)).status_code == 200


# --- the IP allow-list, checked against the socket peer ------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "peer"),
    [
        ("10.0.0.0/8", "10.1.2.3"),
        ("10.1.2.3", "10.1.2.3"),
        ("10.0.0.0/8", "::ffff:10.1.2.3"),
        ("2001:db8::/32", "2001:db8:1::5"),
        ("2001:db8::5", "2001:db8::5"),
    ],
)
async def test_peer_inside_the_allow_list_may_use_the_key(
    user_api: Api, alice: Account, allowed: str, peer: str
) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, allowed_ips=["192.0.2.1", allowed]))["token"]
    assert (await user_api.from_peer(peer).get(ACCOUNT, token=token)).status_code == 200


@pytest.mark.parametrize(
    ("allowed", "peer"),
    [
        ("10.0.0.0/8", "11.1.2.3"),
        ("10.1.2.3", "10.1.2.4"),
        ("10.0.0.0/8", "::ffff:11.1.2.3"),
        ("2001:db8::/32", "2001:db9::5"),
        ("10.0.0.0/8", "2001:db8::10.1.2.3"),
    ],
)
async def test_peer_outside_the_allow_list_is_denied(user_api: Api, alice: Account, allowed: str, peer: str) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, allowed_ips=[allowed]))["token"]
    response = await user_api.from_peer(peer).get(ACCOUNT, token=token)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_denied_address_is_logged(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, allowed_ips=["10.0.0.0/8"])
    assert (await user_api.from_peer("198.51.100.20").get(ACCOUNT, token=created["token"])).status_code == 403
    [entry] = await activity_events(runtime, alice.user.id, "account.api_key.denied_ip")
    assert entry.ip == "198.51.100.20"
    assert entry.api_key == created["identifier"]
    shown = (await user_api.get("/api/v1/account/activity", params={"event": "account.api_key.denied_ip"})).json()
    assert shown["total"] == 1
    assert shown["data"][0]["via_api_key"] is True


async def test_denied_request_does_not_count_as_use(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, allowed_ips=["10.0.0.0/8"]))["token"]
    assert (await user_api.get(ACCOUNT, token=token)).status_code == 403
    assert (await user_api.get(KEYS)).json()[0]["last_used_at"] is None


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, allowed_ips=["10.0.0.0/8"]))["token"]
    for peer in ("203.0.113.7", "127.0.0.1"):
        response = await user_api.from_peer(peer).get(ACCOUNT, token=token, headers={"X-Forwarded-For": "10.1.2.3"})
        assert response.status_code == 403, peer


@pytest.fixture
async def proxied_api(settings_factory: Callable[..., Settings]) -> AsyncIterator[Api]:
    """The user port of a panel that believes X-Forwarded-For from 127.0.0.1 only (same database)."""
    runtime = build_runtime(settings_factory(trusted_proxies=["127.0.0.1"]))
    api = Api(create_app(runtime, "user"), peer="127.0.0.1")
    yield api
    await api.aclose()
    await runtime.close()


async def test_forwarded_for_from_a_trusted_proxy_is_believed(
    user_api: Api, proxied_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    created = await create_key(user_api, allowed_ips=["10.0.0.0/8"])
    token = created["token"]
    allowed = await proxied_api.get(ACCOUNT, token=token, headers={"X-Forwarded-For": "10.1.2.3"})
    assert allowed.status_code == 200
    assert (await proxied_api.get(ACCOUNT, token=token)).status_code == 403
    outside = await proxied_api.get(ACCOUNT, token=token, headers={"X-Forwarded-For": "198.51.100.9"})
    assert outside.status_code == 403
    denied = await activity_events(runtime, alice.user.id, "account.api_key.denied_ip")
    assert sorted(entry.ip or "" for entry in denied) == ["127.0.0.1", "198.51.100.9"]


async def test_trusted_proxy_does_not_launder_a_hop_added_by_the_client(
    user_api: Api, proxied_api: Api, alice: Account
) -> None:
    """The right-most hop is the one the proxy saw; anything left of it was written by the client."""
    await user_api.login(alice)
    token = (await create_key(user_api, allowed_ips=["10.0.0.0/8"]))["token"]
    response = await proxied_api.get(ACCOUNT, token=token, headers={"X-Forwarded-For": "10.1.2.3, 198.51.100.9"})
    assert response.status_code == 403


async def test_forwarded_for_from_a_peer_that_is_not_the_trusted_proxy_is_ignored(
    user_api: Api, proxied_api: Api, alice: Account
) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, allowed_ips=["10.0.0.0/8"]))["token"]
    stranger = proxied_api.from_peer("203.0.113.7")
    response = await stranger.get(ACCOUNT, token=token, headers={"X-Forwarded-For": "10.1.2.3"})
    assert response.status_code == 403
    await stranger.aclose()


# --- scopes ------------------------------------------------------------------------------------------


async def test_read_scope_allows_reading_but_not_writing(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, scopes=["account:read"]))["token"]
    assert (await user_api.get(ACCOUNT, token=token)).status_code == 200
    response = await user_api.patch(ACCOUNT, token=token, json={"first_name": "Mallory"})
    assert response.status_code == 403
    assert (await user_api.get(ACCOUNT)).json()["first_name"] == ""


async def test_write_scope_allows_writing(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, scopes=["account:write"]))["token"]
    response = await user_api.patch(ACCOUNT, token=token, json={"first_name": "Alice"})
    assert response.status_code == 200
    assert response.json()["first_name"] == "Alice"


async def test_scope_of_another_area_grants_nothing_here(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, scopes=["domains:write"]))["token"]
    assert (await user_api.get(ACCOUNT, token=token)).status_code == 403


async def test_read_only_key_cannot_create_keys_even_with_the_password(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    token = (await create_key(user_api, scopes=["account:read"]))["token"]
    response = await user_api.post(KEYS, token=token, json={"password": alice.password})
    assert response.status_code == 403
    assert len((await user_api.get(KEYS)).json()) == 1


# --- a key alone never changes security settings -------------------------------------------------------


@pytest.fixture
async def key_api(user_api: Api, alice: Account) -> AsyncIterator[Api]:
    """A client that authenticates with a full-access API key of alice, not with a session."""
    await user_api.login(alice)
    token = (await create_key(user_api, description="automation"))["token"]
    keyed = user_api.from_peer("203.0.113.7")
    keyed.token = token
    yield keyed
    await keyed.aclose()


async def test_key_cannot_create_a_key_without_the_password(user_api: Api, key_api: Api, alice: Account) -> None:
    response = await key_api.post(KEYS, json={"description": "escalation"})
    assert response.status_code == 403
    assert len((await user_api.get(KEYS)).json()) == 1


async def test_key_with_a_wrong_password_cannot_create_a_key(user_api: Api, key_api: Api, alice: Account) -> None:
    response = await key_api.post(KEYS, json={"description": "escalation", "password": "wrong-password-1"})
    assert response.status_code == 400
    assert len((await user_api.get(KEYS)).json()) == 1


async def test_key_with_the_password_can_create_a_key(user_api: Api, key_api: Api, alice: Account) -> None:
    created = await key_api.post(KEYS, json={"description": "second", "password": alice.password})
    assert created.status_code == 201
    assert len((await user_api.get(KEYS)).json()) == 2


async def test_key_deletes_a_key_only_with_the_password(user_api: Api, key_api: Api, alice: Account) -> None:
    other = await create_key(user_api, description="victim")
    url = f"{KEYS}/{other['identifier']}"
    assert (await key_api.delete(url)).status_code == 403
    assert (await key_api.delete(url, json={"password": "wrong-password-1"})).status_code == 400
    assert (await user_api.get(ACCOUNT, token=other["token"])).status_code == 200
    assert (await key_api.delete(url, json={"password": alice.password})).status_code == 204
    assert (await user_api.get(ACCOUNT, token=other["token"])).status_code == 401


async def test_key_adds_an_ssh_key_only_with_the_password(user_api: Api, key_api: Api, alice: Account) -> None:
    public_key = ssh_public_key()
    refused = await key_api.post("/api/v1/account/ssh-keys", json={"name": "laptop", "public_key": public_key})
    assert refused.status_code == 403
    assert (await user_api.get("/api/v1/account/ssh-keys")).json() == []
    added = await key_api.post(
        "/api/v1/account/ssh-keys", json={"name": "laptop", "public_key": public_key, "password": alice.password}
    )
    assert added.status_code == 201
    assert len((await user_api.get("/api/v1/account/ssh-keys")).json()) == 1


async def test_key_removes_an_ssh_key_only_with_the_password(user_api: Api, key_api: Api, alice: Account) -> None:
    added = await user_api.post("/api/v1/account/ssh-keys", json={"name": "laptop", "public_key": ssh_public_key()})
    assert added.status_code == 201
    fingerprint = added.json()["fingerprint"]
    remove = "/api/v1/account/ssh-keys/remove"
    assert (await key_api.post(remove, json={"fingerprint": fingerprint})).status_code == 403
    assert len((await user_api.get("/api/v1/account/ssh-keys")).json()) == 1
    removed = await key_api.post(remove, json={"fingerprint": fingerprint, "password": alice.password})
    assert removed.status_code == 204
    assert (await user_api.get("/api/v1/account/ssh-keys")).json() == []


async def test_key_changes_the_password_only_with_the_current_one(user_api: Api, key_api: Api, alice: Account) -> None:
    new = "An0ther-long-passphrase!"
    change = {"password": new, "password_confirmation": new}
    refused = await key_api.put("/api/v1/account/password", json={**change, "current_password": "wrong-password-1"})
    assert refused.status_code == 400
    assert await logs_in(user_api, alice.password)
    changed = await key_api.put("/api/v1/account/password", json={**change, "current_password": alice.password})
    assert changed.status_code == 204
    assert await logs_in(user_api, new)
    assert not await logs_in(user_api, alice.password)


async def test_key_turns_two_factor_on_and_off_only_with_the_password(key_api: Api, alice: Account) -> None:
    secret = (await key_api.post("/api/v1/account/two-factor/setup")).json()["secret"]
    code = totp.code_at(secret, totp.current_step(key_api.clock.now().timestamp()))
    refused = await key_api.post("/api/v1/account/two-factor", json={"code": code, "password": "wrong-password-1"})
    assert refused.status_code == 400
    assert (await key_api.get("/api/v1/account/two-factor")).json()["enabled"] is False
    enabled = await key_api.post("/api/v1/account/two-factor", json={"code": code, "password": alice.password})
    assert enabled.status_code == 200
    refused = await key_api.post("/api/v1/account/two-factor/disable", json={"password": "wrong-password-1"})
    assert refused.status_code == 400
    assert (await key_api.get("/api/v1/account/two-factor")).json()["enabled"] is True
    disabled = await key_api.post("/api/v1/account/two-factor/disable", json={"password": alice.password})
    assert disabled.status_code == 204
    assert (await key_api.get("/api/v1/account/two-factor")).json()["enabled"] is False
