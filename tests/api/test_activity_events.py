"""Every event any area records is one member of `Event`, and every one of them can be found by the activity
filters: the native API's (own account and admin) and the Pterodactyl dialect's `filter[event]`."""

from __future__ import annotations

import pytest

from hostplane.activity.events import Event
from hostplane.activity.log import Actor, record
from hostplane.dialects.pterodactyl.shapes import CORE_EVENTS, pterodactyl_event
from hostplane.runtime import Runtime
from tests.conftest import Account, Api
from tests.dialects.pterodactyl.ptero import items, send


async def record_one(runtime: Runtime, event: Event, user_id: int) -> None:
    async with runtime.writing() as db:
        record(db, event, Actor(user_id, "192.0.2.1"), user_id=user_id)


def test_the_pterodactyl_dialect_knows_every_core_event() -> None:
    assert frozenset(Event) == CORE_EVENTS


@pytest.mark.parametrize("event", list(Event))
async def test_every_event_is_found_by_the_native_filters(
    event: Event, runtime: Runtime, user_api: Api, admin_api: Api, alice: Account, admin: Account
) -> None:
    await record_one(runtime, event, alice.user.id)
    await user_api.login(alice)
    own = (await user_api.get("/api/v1/account/activity", params={"event": event.value})).json()["data"]
    assert own and {entry["event"] for entry in own} == {event.value}
    await admin_api.login(admin)
    everyone = await admin_api.get("/api/v1/admin/activity", params={"event": event.value, "user_id": alice.user.id})
    assert {entry["event"] for entry in everyone.json()["data"]} == {event.value}


@pytest.mark.parametrize("event", list(Event))
async def test_every_event_is_found_by_the_pterodactyl_filter(
    event: Event, runtime: Runtime, user_api: Api, alice: Account
) -> None:
    await record_one(runtime, event, alice.user.id)
    await user_api.login(alice)
    name = pterodactyl_event(event)
    found = items(await send(user_api, "GET", "/activity", params={"filter[event]": name}), "activity_log")
    assert name in [entry["event"] for entry in found]
