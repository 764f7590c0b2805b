"""Sessions: every token belongs to a session row that can be listed and revoked; logging out, changing the
password and disabling the user end sessions at once, and an expired session lets nothing in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from sqlalchemy import select, update

from hostplane.activity.events import Event
from hostplane.activity.models import ActivityEntry
from hostplane.app import create_app
from hostplane.auth.models import AuthSession, User
from hostplane.clock import ManualClock
from hostplane.db import utcnow
from hostplane.runtime import Runtime, build_runtime
from hostplane.settings import Settings
from tests.conftest import PASSWORD, PEER, Account, Api

ACCOUNT = "/api/v1/account"
SESSIONS = "/api/v1/account/sessions"
NEW_PASSWORD = "An0ther-long-passphrase"


def session_id(token: str) -> str:
    jti: str = jwt.decode(token, options={"verify_signature": False})["jti"]
    return jti


async def log_in(api: Api, account: Account, *, user_agent: str = "pytest", password: str | None = None) -> str:
    response = await api.post(
        "/api/v1/auth/login",
        json={"username": account.username, "password": password or account.password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def assert_ended(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def events(runtime: Runtime, event: str) -> list[ActivityEntry]:
    async with runtime.reading() as db:
        return list(await db.scalars(select(ActivityEntry).where(ActivityEntry.event == event)))


# --- listing ---------------------------------------------------------------------------------------


async def test_the_session_list_marks_the_current_session(user_api: Api, alice: Account) -> None:
    laptop = await log_in(user_api, alice, user_agent="laptop")
    phone = await log_in(user_api.from_peer("198.51.100.9"), alice, user_agent="phone")

    listed = (await user_api.get(SESSIONS, token=laptop)).json()
    assert {item["id"] for item in listed} == {session_id(laptop), session_id(phone)}
    assert [item["id"] for item in listed if item["current"]] == [session_id(laptop)]
    by_id = {item["id"]: item for item in listed}
    assert (by_id[session_id(laptop)]["ip"], by_id[session_id(laptop)]["user_agent"]) == (PEER, "laptop")
    assert (by_id[session_id(phone)]["ip"], by_id[session_id(phone)]["user_agent"]) == ("198.51.100.9", "phone")
    assert by_id[session_id(phone)]["method"] == "password"

    from_phone = (await user_api.get(SESSIONS, token=phone)).json()
    assert [item["id"] for item in from_phone if item["current"]] == [session_id(phone)]


async def test_the_session_list_shows_only_ones_own_live_sessions(
    user_api: Api, alice: Account, make_account: Callable[..., Any], runtime: Runtime
) -> None:
    bob: Account = await make_account("bob")
    await log_in(user_api, bob)
    mine = await log_in(user_api, alice)
    ended = await log_in(user_api, alice)
    expired = await log_in(user_api, alice)
    assert (await user_api.post("/api/v1/auth/logout", token=ended)).status_code == 204
    async with runtime.writing() as db:
        await db.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id(expired))
            .values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1))
        )
    listed = (await user_api.get(SESSIONS, token=mine)).json()
    assert [item["id"] for item in listed] == [session_id(mine)]


# --- revoking --------------------------------------------------------------------------------------


async def test_revoking_another_session_ends_its_token_at_once(user_api: Api, alice: Account, runtime: Runtime) -> None:
    mine = await log_in(user_api, alice)
    other = await log_in(user_api, alice)
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 200

    response = await user_api.delete(f"{SESSIONS}/{session_id(other)}", token=mine)
    assert response.status_code == 204
    assert_ended(await user_api.get(ACCOUNT, token=other))
    assert (await user_api.get(ACCOUNT, token=mine)).status_code == 200
    assert [item["id"] for item in (await user_api.get(SESSIONS, token=mine)).json()] == [session_id(mine)]
    (entry,) = await events(runtime, Event.SESSION_REVOKED)
    assert (entry.user_id, entry.ip) == (alice.user.id, PEER)


async def test_a_session_cannot_be_revoked_twice(user_api: Api, alice: Account) -> None:
    mine = await log_in(user_api, alice)
    other = await log_in(user_api, alice)
    assert (await user_api.delete(f"{SESSIONS}/{session_id(other)}", token=mine)).status_code == 204
    assert (await user_api.delete(f"{SESSIONS}/{session_id(other)}", token=mine)).status_code == 404


async def test_another_users_session_is_not_found_and_lives_on(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob: Account = await make_account("bob")
    bobs = await log_in(user_api, bob)
    alices = await log_in(user_api, alice)
    response = await user_api.delete(f"{SESSIONS}/{session_id(bobs)}", token=alices)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await user_api.get(ACCOUNT, token=bobs)).status_code == 200


async def test_an_unknown_session_id_is_not_found(user_api: Api, alice: Account) -> None:
    mine = await log_in(user_api, alice)
    assert (await user_api.delete(f"{SESSIONS}/{'x' * 43}", token=mine)).status_code == 404


async def test_listing_and_revoking_sessions_needs_authentication(user_api: Api, alice: Account) -> None:
    other = await log_in(user_api, alice)
    assert_ended(await user_api.get(SESSIONS))
    assert_ended(await user_api.delete(f"{SESSIONS}/{session_id(other)}"))
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 200


# --- logout ----------------------------------------------------------------------------------------


async def test_logout_ends_the_token_at_once(user_api: Api, alice: Account, runtime: Runtime) -> None:
    token = await log_in(user_api, alice)
    other = await log_in(user_api, alice)
    assert (await user_api.post("/api/v1/auth/logout", token=token)).status_code == 204
    assert_ended(await user_api.get(ACCOUNT, token=token))
    assert_ended(await user_api.post("/api/v1/auth/logout", token=token))
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 200
    (entry,) = await events(runtime, Event.LOGOUT)
    assert entry.user_id == alice.user.id


# --- password change -------------------------------------------------------------------------------


async def test_a_password_change_ends_every_other_session_but_keeps_the_current_one(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob: Account = await make_account("bob")
    bobs = await log_in(user_api, bob)
    current = await log_in(user_api, alice)
    others = [await log_in(user_api, alice), await log_in(user_api.from_peer("198.51.100.9"), alice)]

    response = await user_api.put(
        f"{ACCOUNT}/password",
        token=current,
        json={"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD},
    )
    assert response.status_code == 204, response.text
    for token in others:
        assert_ended(await user_api.get(ACCOUNT, token=token))
    assert (await user_api.get(ACCOUNT, token=current)).status_code == 200
    assert [item["id"] for item in (await user_api.get(SESSIONS, token=current)).json()] == [session_id(current)]
    assert (await user_api.get(ACCOUNT, token=bobs)).status_code == 200

    assert (
        await user_api.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    ).status_code == 401
    await log_in(user_api, alice, password=NEW_PASSWORD)


async def test_a_refused_password_change_ends_no_session(user_api: Api, alice: Account) -> None:
    current = await log_in(user_api, alice)
    other = await log_in(user_api, alice)
    response = await user_api.put(
        f"{ACCOUNT}/password",
        token=current,
        json={
            "current_password": "Not-the-password-1",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert (await user_api.get(ACCOUNT, token=other)).status_code == 200


# --- disabling the user ----------------------------------------------------------------------------


async def test_disabling_a_user_ends_its_sessions_and_stops_its_api_keys(
    user_api: Api, admin_api: Api, alice: Account, admin: Account
) -> None:
    token = await log_in(user_api, alice)
    created = await user_api.post(f"{ACCOUNT}/api-keys", token=token, json={"description": "deploy"})
    assert created.status_code == 201, created.text
    api_key = created.json()["token"]
    assert (await user_api.get(ACCOUNT, token=api_key)).status_code == 200

    await admin_api.login(admin)
    response = await admin_api.post(f"/api/v1/admin/users/{alice.user.id}/disable")
    assert response.status_code == 200
    assert response.json()["disabled"] is True

    assert_ended(await user_api.get(ACCOUNT, token=token))
    assert_ended(await user_api.get(ACCOUNT, token=api_key))

    assert (await admin_api.post(f"/api/v1/admin/users/{alice.user.id}/enable")).status_code == 200
    assert_ended(await user_api.get(ACCOUNT, token=token))
    assert (await user_api.get(ACCOUNT, token=api_key)).status_code == 200


async def test_disabling_a_user_leaves_other_users_sessions_alone(
    user_api: Api, admin_api: Api, alice: Account, admin: Account, make_account: Callable[..., Any]
) -> None:
    bob: Account = await make_account("bob")
    bobs = await log_in(user_api, bob)
    await admin_api.login(admin)
    assert (await admin_api.post(f"/api/v1/admin/users/{alice.user.id}/disable")).status_code == 200
    assert (await user_api.get(ACCOUNT, token=bobs)).status_code == 200
    assert (await admin_api.get("/api/v1/admin/users")).status_code == 200


# --- expiry ----------------------------------------------------------------------------------------


async def test_an_expired_session_is_refused_although_its_token_has_not_expired(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    token = await log_in(user_api, alice)
    assert jwt.decode(token, options={"verify_signature": False})["exp"] > utcnow().timestamp() + 60
    async with runtime.writing() as db:
        await db.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id(token))
            .values(expires_at=runtime.clock.now() - dt.timedelta(seconds=1))
        )
    assert_ended(await user_api.get(ACCOUNT, token=token))


async def test_a_revocation_by_another_process_is_seen_within_the_cache_ttl(
    settings_factory: Callable[..., Settings], alice: Account, clock: ManualClock
) -> None:
    runtime = build_runtime(settings_factory(auth_cache_seconds=0.2), clock=clock)
    api = Api(create_app(runtime, "user"))
    try:
        await api.login(alice)
        assert (await api.get("/api/v1/account")).status_code == 200
        async with runtime.writing() as db:  # like `hostplane user disable` run from the CLI: no cache drop here
            await db.execute(update(User).where(User.id == alice.user.id).values(disabled=True))
        assert (await api.get("/api/v1/account")).status_code == 200  # still cached
        clock.advance(0.25)
        assert (await api.get("/api/v1/account")).status_code == 401
    finally:
        await api.aclose()
        await runtime.close()
