"""Specification of API keys through the native API: secrets shown once, scopes, expiry, IP allow-lists, limits,
and the rights rule: a key manages the account's keys without the password, but never gives a key more than it
holds itself, while the password, email and two-factor still need the password."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable
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
from tests.conftest import PEER, Account, Api, activity_events

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


StoredKey = tuple[str, list[str], list[str], dt.datetime | None]


async def stored_keys(runtime: Runtime, user_id: int) -> list[StoredKey]:
    """(identifier, scopes, allowed_ips, expires_at) of each key of the user as stored, oldest first: what an
    escalation attempt must leave exactly as it was."""
    async with runtime.reading() as db:
        rows = await db.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id))
        return [(key.identifier, list(key.scopes or []), list(key.allowed_ips or []), key.expires_at) for key in rows]


def in_days(days: int) -> dt.datetime:
    return utcnow() + dt.timedelta(days=days)


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


# --- keys manage keys within their own rights -----------------------------------------------------------


@pytest.fixture
async def key_api(user_api: Api, alice: Account) -> AsyncIterator[Api]:
    """A client that authenticates with a full-access API key of alice, not with a session."""
    await user_api.login(alice)
    token = (await create_key(user_api, description="automation"))["token"]
    keyed = user_api.from_peer(PEER)
    keyed.token = token
    yield keyed
    await keyed.aclose()


KeyedClient = Callable[..., Awaitable[tuple[Api, str]]]


@pytest.fixture
async def keyed(user_api: Api, alice: Account) -> AsyncIterator[KeyedClient]:
    """Makes a key of alice with the given fields (through her session) and returns a client that authenticates
    with it from PEER (203.0.113.7), and the key's identifier."""
    await user_api.login(alice)
    clients: list[Api] = []

    async def make(**fields: Any) -> tuple[Api, str]:
        created = await create_key(user_api, **fields)
        client = user_api.from_peer(PEER)
        client.token = created["token"]
        clients.append(client)
        return client, str(created["identifier"])

    yield make
    for client in clients:
        await client.aclose()


def assert_refused(response: httpx.Response) -> None:
    """403 as a problem document with the core's stable code."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"


async def test_key_creates_a_key_without_the_password(
    user_api: Api, key_api: Api, alice: Account, runtime: Runtime
) -> None:
    response = await key_api.post(KEYS, json={"description": "made by a key"})
    assert response.status_code == 201, response.text
    made = response.json()
    assert (await user_api.get(ACCOUNT, token=made["token"])).status_code == 200
    assert len((await user_api.get(KEYS)).json()) == 2
    by_session, by_key = await activity_events(runtime, alice.user.id, "account.api_key.created")
    assert by_session.api_key is None
    assert by_key.properties == {"identifier": made["identifier"]}
    assert by_key.api_key == split(key_api.token or "")[0]


async def test_key_with_a_wrong_password_cannot_create_a_key(
    user_api: Api, key_api: Api, alice: Account, runtime: Runtime
) -> None:
    before = await stored_keys(runtime, alice.user.id)
    response = await key_api.post(KEYS, json={"description": "escalation", "password": "wrong-password-1"})
    assert response.status_code == 400
    assert response.json()["code"] == "incorrect_password"
    assert await stored_keys(runtime, alice.user.id) == before


async def test_key_with_the_password_can_create_a_key(user_api: Api, key_api: Api, alice: Account) -> None:
    created = await key_api.post(KEYS, json={"description": "second", "password": alice.password})
    assert created.status_code == 201
    assert len((await user_api.get(KEYS)).json()) == 2


@pytest.mark.parametrize("scopes", [["account:read"], ["domains:read"], ["account:write", "domains:read"]])
async def test_key_creates_a_key_with_scopes_within_its_own(keyed: KeyedClient, scopes: list[str]) -> None:
    client, _ = await keyed(scopes=["account:write", "domains:read"])
    response = await client.post(KEYS, json={"description": "narrower", "scopes": scopes})
    assert response.status_code == 201, response.text
    assert response.json()["scopes"] == scopes


@pytest.mark.parametrize(
    "scopes",
    [["domains:write"], ["mail:read"], ["account:read", "tls:read"], ["*:read"], []],
    ids=["write-where-it-reads", "another-area", "one-of-two-beyond", "every-area", "full-access"],
)
async def test_key_cannot_create_a_key_with_a_scope_it_does_not_hold(
    keyed: KeyedClient, alice: Account, runtime: Runtime, scopes: list[str]
) -> None:
    client, _ = await keyed(scopes=["account:write", "domains:read"])
    before = await stored_keys(runtime, alice.user.id)
    assert_refused(await client.post(KEYS, json={"description": "wider", "scopes": scopes}))
    assert await stored_keys(runtime, alice.user.id) == before


@pytest.mark.parametrize("allowed_ips", [["203.0.113.7/32"], ["203.0.113.7"], ["203.0.113.128/25", "203.0.113.9"]])
async def test_key_limited_to_some_addresses_creates_a_key_limited_within_them(
    keyed: KeyedClient, allowed_ips: list[str]
) -> None:
    client, _ = await keyed(allowed_ips=["203.0.113.0/24"])
    response = await client.post(KEYS, json={"description": "inside", "allowed_ips": allowed_ips})
    assert response.status_code == 201, response.text
    assert response.json()["allowed_ips"] == allowed_ips


@pytest.mark.parametrize(
    "allowed_ips",
    [["198.51.100.0/24"], [], ["203.0.112.0/23"], ["203.0.113.7", "198.51.100.7"], ["2001:db8::1"]],
    ids=["elsewhere", "unlimited", "wider-range", "one-of-two-outside", "ipv6"],
)
async def test_key_limited_to_some_addresses_cannot_create_a_key_beyond_them(
    keyed: KeyedClient, alice: Account, runtime: Runtime, allowed_ips: list[str]
) -> None:
    client, _ = await keyed(allowed_ips=["203.0.113.0/24"])
    before = await stored_keys(runtime, alice.user.id)
    assert_refused(await client.post(KEYS, json={"description": "outside", "allowed_ips": allowed_ips}))
    assert await stored_keys(runtime, alice.user.id) == before


async def test_key_limited_to_some_addresses_cannot_create_an_unlimited_key_by_leaving_the_list_out(
    keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, _ = await keyed(allowed_ips=["203.0.113.0/24"])
    before = await stored_keys(runtime, alice.user.id)
    assert_refused(await client.post(KEYS, json={"description": "no list"}))
    assert await stored_keys(runtime, alice.user.id) == before


async def test_expiring_key_creates_a_key_that_expires_no_later(keyed: KeyedClient) -> None:
    client, _ = await keyed(expires_at=in_days(10).isoformat())
    expires_at = in_days(5)
    response = await client.post(KEYS, json={"description": "sooner", "expires_at": expires_at.isoformat()})
    assert response.status_code == 201, response.text
    assert dt.datetime.fromisoformat(response.json()["expires_at"]) == expires_at


@pytest.mark.parametrize(
    "expiry",
    [{"expires_at": in_days(20).isoformat()}, {"expires_at": None}, {}],
    ids=["later", "never", "left-out"],
)
async def test_expiring_key_cannot_create_a_key_that_outlives_it(
    keyed: KeyedClient, alice: Account, runtime: Runtime, expiry: dict[str, Any]
) -> None:
    client, _ = await keyed(expires_at=in_days(10).isoformat())
    before = await stored_keys(runtime, alice.user.id)
    assert_refused(await client.post(KEYS, json={"description": "longer", **expiry}))
    assert await stored_keys(runtime, alice.user.id) == before


async def test_key_deletes_another_key_of_its_account_without_the_password(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    """Even a key with less than the key it deletes: removing a key takes nothing away from anyone's rights."""
    client, identifier = await keyed(
        scopes=["account:write"], allowed_ips=["203.0.113.0/24"], expires_at=in_days(10).isoformat()
    )
    other = await create_key(user_api, description="victim")
    assert (await client.delete(f"{KEYS}/{other['identifier']}")).status_code == 204
    assert (await user_api.get(ACCOUNT, token=other["token"])).status_code == 401
    assert [key["identifier"] for key in (await user_api.get(KEYS)).json()] == [identifier]
    [entry] = await activity_events(runtime, alice.user.id, "account.api_key.deleted")
    assert entry.properties == {"identifier": other["identifier"]}
    assert entry.api_key == identifier
    assert entry.ip == PEER
    shown = (await user_api.get("/api/v1/account/activity", params={"event": "account.api_key.deleted"})).json()
    assert (shown["data"][0]["api_key"], shown["data"][0]["via_api_key"]) == (identifier, True)


async def test_key_with_a_wrong_password_cannot_delete_a_key(
    user_api: Api, key_api: Api, alice: Account, runtime: Runtime
) -> None:
    other = await create_key(user_api, description="victim")
    before = await stored_keys(runtime, alice.user.id)
    response = await key_api.delete(f"{KEYS}/{other['identifier']}", json={"password": "wrong-password-1"})
    assert response.status_code == 400
    assert await stored_keys(runtime, alice.user.id) == before
    assert (await user_api.get(ACCOUNT, token=other["token"])).status_code == 200


async def test_key_cannot_delete_a_key_of_another_account(
    key_api: Api, make_account: Callable[..., Any], runtime: Runtime
) -> None:
    bob: Account = await make_account("bob")
    bob_api = key_api.from_peer("198.51.100.9")
    await bob_api.login(bob)
    bobs = await create_key(bob_api, description="bob's")
    before = await stored_keys(runtime, bob.user.id)
    assert (await key_api.delete(f"{KEYS}/{bobs['identifier']}")).status_code == 404
    assert await stored_keys(runtime, bob.user.id) == before
    await bob_api.aclose()


async def test_key_adds_an_ssh_key_without_the_password(
    user_api: Api, key_api: Api, alice: Account, runtime: Runtime
) -> None:
    wrong = await key_api.post(
        "/api/v1/account/ssh-keys",
        json={"name": "laptop", "public_key": ssh_public_key(), "password": "wrong-password-1"},
    )
    assert wrong.status_code == 400
    assert (await user_api.get("/api/v1/account/ssh-keys")).json() == []
    added = await key_api.post("/api/v1/account/ssh-keys", json={"name": "laptop", "public_key": ssh_public_key()})
    assert added.status_code == 201, added.text
    assert len((await user_api.get("/api/v1/account/ssh-keys")).json()) == 1
    [entry] = await activity_events(runtime, alice.user.id, "account.ssh_key.created")
    assert entry.api_key == split(key_api.token or "")[0]


async def test_key_removes_an_ssh_key_without_the_password(
    user_api: Api, key_api: Api, alice: Account, runtime: Runtime
) -> None:
    added = await user_api.post("/api/v1/account/ssh-keys", json={"name": "laptop", "public_key": ssh_public_key()})
    assert added.status_code == 201
    fingerprint = added.json()["fingerprint"]
    remove = "/api/v1/account/ssh-keys/remove"
    wrong = await key_api.post(remove, json={"fingerprint": fingerprint, "password": "wrong-password-1"})
    assert wrong.status_code == 400
    assert len((await user_api.get("/api/v1/account/ssh-keys")).json()) == 1
    assert (await key_api.post(remove, json={"fingerprint": fingerprint})).status_code == 204
    assert (await user_api.get("/api/v1/account/ssh-keys")).json() == []
    [entry] = await activity_events(runtime, alice.user.id, "account.ssh_key.deleted")
    assert entry.api_key == split(key_api.token or "")[0]


async def test_read_only_key_can_do_none_of_it(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, _ = await keyed(scopes=["account:read"])
    other = await create_key(user_api, description="other")
    added = await user_api.post("/api/v1/account/ssh-keys", json={"name": "laptop", "public_key": ssh_public_key()})
    fingerprint = added.json()["fingerprint"]
    keys_before = await stored_keys(runtime, alice.user.id)
    ssh_before = (await user_api.get("/api/v1/account/ssh-keys")).json()
    for password in (None, alice.password):
        proof = {"password": password} if password else {}
        assert_refused(await client.post(KEYS, json={"description": "more", "scopes": ["account:read"], **proof}))
        assert_refused(await client.delete(f"{KEYS}/{other['identifier']}", json=proof or None))
        new_ssh = {"name": "other", "public_key": ssh_public_key(), **proof}
        assert_refused(await client.post("/api/v1/account/ssh-keys", json=new_ssh))
        assert_refused(await client.post("/api/v1/account/ssh-keys/remove", json={"fingerprint": fingerprint, **proof}))
    assert await stored_keys(runtime, alice.user.id) == keys_before
    assert (await user_api.get("/api/v1/account/ssh-keys")).json() == ssh_before


async def _attempts(client: Api, other: str) -> list[httpx.Response]:
    """Every key-managing call, made with `client`'s key."""
    return [
        await client.post(KEYS, json={"description": "more"}),
        await client.delete(f"{KEYS}/{other}"),
        await client.post("/api/v1/account/ssh-keys", json={"name": "laptop", "public_key": ssh_public_key()}),
        await client.post("/api/v1/account/ssh-keys/remove", json={"fingerprint": "SHA256:" + "A" * 43}),
    ]


async def test_expired_key_is_refused_as_before(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, identifier = await keyed(expires_at=in_days(10).isoformat())
    other = await create_key(user_api, description="other")
    async with runtime.writing() as db:
        await db.execute(
            update(ApiKey)
            .where(ApiKey.identifier == identifier)
            .values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1))
        )
    runtime.credentials.clear()  # the clock moved past the expiry: what the cache would see once its TTL ends
    before = await stored_keys(runtime, alice.user.id)
    for response in await _attempts(client, other["identifier"]):
        assert response.status_code == 401, response.text
    assert await stored_keys(runtime, alice.user.id) == before
    assert (await user_api.get("/api/v1/account/ssh-keys")).json() == []


async def test_deleted_key_is_refused_as_before(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    client, identifier = await keyed(description="revoked")
    other = await create_key(user_api, description="other")
    assert (await user_api.delete(f"{KEYS}/{identifier}")).status_code == 204
    before = await stored_keys(runtime, alice.user.id)
    for response in await _attempts(client, other["identifier"]):
        assert response.status_code == 401, response.text
    assert await stored_keys(runtime, alice.user.id) == before
    assert (await user_api.get("/api/v1/account/ssh-keys")).json() == []


# --- what still needs the password with a key --------------------------------------------------------------


async def test_key_changes_the_password_only_with_the_current_one(user_api: Api, key_api: Api, alice: Account) -> None:
    new = "An0ther-long-passphrase!"
    change = {"password": new, "password_confirmation": new}
    missing = await key_api.put("/api/v1/account/password", json=change)
    assert missing.status_code == 422
    assert field_names(missing) == ["current_password"]
    refused = await key_api.put("/api/v1/account/password", json={**change, "current_password": "wrong-password-1"})
    assert refused.status_code == 400
    assert await logs_in(user_api, alice.password)
    changed = await key_api.put("/api/v1/account/password", json={**change, "current_password": alice.password})
    assert changed.status_code == 204
    assert await logs_in(user_api, new)
    assert not await logs_in(user_api, alice.password)


async def test_key_changes_the_email_only_with_the_password(user_api: Api, key_api: Api, alice: Account) -> None:
    url = "/api/v1/account/email"
    missing = await key_api.put(url, json={"email": "mallory@example.com"})
    assert missing.status_code == 422
    assert field_names(missing) == ["password"]
    wrong = await key_api.put(url, json={"email": "mallory@example.com", "password": "wrong-password-1"})
    assert wrong.status_code == 400
    assert (await user_api.get(ACCOUNT)).json()["email"] == "alice@example.com"
    changed = await key_api.put(url, json={"email": "alice@example.org", "password": alice.password})
    assert changed.status_code == 204
    assert (await user_api.get(ACCOUNT)).json()["email"] == "alice@example.org"


async def test_key_turns_two_factor_on_and_off_only_with_the_password(key_api: Api, alice: Account) -> None:
    """Turning two-factor on is also the only way to get new recovery codes, and turning it off removes the
    last second factor: both need the password with a key."""
    secret = (await key_api.post("/api/v1/account/two-factor/setup")).json()["secret"]
    code = totp.code_at(secret, totp.current_step(key_api.clock.now().timestamp()))
    missing = await key_api.post("/api/v1/account/two-factor", json={"code": code})
    assert missing.status_code == 422
    assert field_names(missing) == ["password"]
    refused = await key_api.post("/api/v1/account/two-factor", json={"code": code, "password": "wrong-password-1"})
    assert refused.status_code == 400
    assert (await key_api.get("/api/v1/account/two-factor")).json() == {"enabled": False, "recovery_codes_left": 0}
    enabled = await key_api.post("/api/v1/account/two-factor", json={"code": code, "password": alice.password})
    assert enabled.status_code == 200
    assert len(enabled.json()["recovery_codes"]) == 10
    missing = await key_api.post("/api/v1/account/two-factor/disable", json={})
    assert missing.status_code == 422
    assert field_names(missing) == ["password"]
    refused = await key_api.post("/api/v1/account/two-factor/disable", json={"password": "wrong-password-1"})
    assert refused.status_code == 400
    assert (await key_api.get("/api/v1/account/two-factor")).json() == {"enabled": True, "recovery_codes_left": 10}
    disabled = await key_api.post("/api/v1/account/two-factor/disable", json={"password": alice.password})
    assert disabled.status_code == 204
    assert (await key_api.get("/api/v1/account/two-factor")).json()["enabled"] is False


async def test_recovery_codes_come_only_from_turning_two_factor_on(user_api: Api) -> None:
    """No other route hands out (or regenerates) recovery codes, so none does so without the password."""
    paths = (await user_api.get("/openapi.json")).json()["paths"]
    assert [path for path in paths if "recovery" in path] == []
    two_factor = {path: sorted(paths[path]) for path in paths if path.startswith("/api/v1/account/two-factor")}
    assert two_factor == {
        "/api/v1/account/two-factor": ["get", "post"],
        "/api/v1/account/two-factor/setup": ["post"],
        "/api/v1/account/two-factor/disable": ["post"],
    }
