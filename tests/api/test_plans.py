"""Plans in the native API: administration on the admin port only, strict input (422), assignment, and each
user's own limits and usage at /api/v1/account/usage."""

from __future__ import annotations

from typing import Any

import pytest

from hostplane.plans.models import FEATURES
from tests.conftest import Account, Api

PLANS = "/api/v1/admin/plans"


async def create_plan(api: Api, **values: Any) -> dict[str, Any]:
    response = await api.post(PLANS, json={"name": "small", **values})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_admin_creates_reads_lists_changes_and_deletes_a_plan(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    plan = await create_plan(admin_api, max_domains=3, max_websites=10, max_mailboxes=20, features=["emails"])
    assert {key: plan[key] for key in ("name", "max_domains", "max_websites", "max_mailboxes", "max_disk_mb")} == {
        "name": "small",
        "max_domains": 3,
        "max_websites": 10,
        "max_mailboxes": 20,
        "max_disk_mb": 0,
    }
    assert plan["features"] == ["emails"]
    assert (plan["is_default"], plan["users"]) == (False, 0)
    assert (await admin_api.get(f"{PLANS}/{plan['id']}")).json() == plan
    changed = await admin_api.patch(f"{PLANS}/{plan['id']}", json={"max_domains": 5, "name": "medium"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["max_domains"], changed.json()["name"], changed.json()["max_websites"]) == (5, "medium", 10)
    listed = (await admin_api.get(PLANS)).json()
    assert [item["name"] for item in listed] == ["medium"]
    assert (await admin_api.delete(f"{PLANS}/{plan['id']}")).status_code == 204
    assert (await admin_api.get(f"{PLANS}/{plan['id']}")).status_code == 404


async def test_a_new_plan_without_a_feature_list_has_every_feature(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    assert (await create_plan(admin_api))["features"] == list(FEATURES)


async def test_plans_are_not_on_the_user_port(user_api: Api, admin: Account) -> None:
    await user_api.login(admin)
    assert (await user_api.get(PLANS)).status_code == 404
    assert (await user_api.post(PLANS, json={"name": "x"})).status_code == 404


async def test_a_non_admin_cannot_manage_plans(admin_api: Api, alice: Account) -> None:
    await admin_api.login(alice)
    assert (await admin_api.get(PLANS)).status_code == 403
    assert (await admin_api.post(PLANS, json={"name": "x"})).status_code == 403
    assert (await admin_api.put(f"/api/v1/admin/users/{alice.user.id}/plan", json={"plan_id": None})).status_code == 403


async def test_plans_need_authentication(admin_api: Api) -> None:
    assert (await admin_api.get(PLANS)).status_code == 401
    assert (await admin_api.get("/api/v1/account/usage")).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "a" * 65},
        {"name": "bad/name"},
        {"name": "../../etc/passwd"},
        {"name": "evil\r\nX-Header: 1"},
        {"name": "nul\x00"},
        {"name": 5},
        {"name": "ok", "max_domains": -1},
        {"name": "ok", "max_domains": "5"},
        {"name": "ok", "max_domains": 1.5},
        {"name": "ok", "max_domains": True},
        {"name": "ok", "max_domains": None},
        {"name": "ok", "max_disk_mb": 10**12},
        {"name": "ok", "features": "emails"},
        {"name": "ok", "features": ["emails", "no-such-feature"]},
        {"name": "ok", "features": ["x" * 65]},
        {"name": "ok", "is_default": "yes"},
        {"name": "ok", "unknown_field": 1},
    ],
)
async def test_bad_input_on_plan_creation_gets_422_and_creates_nothing(
    admin_api: Api, admin: Account, body: dict[str, Any]
) -> None:
    await admin_api.login(admin)
    response = await admin_api.post(PLANS, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await admin_api.get(PLANS)).json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"max_websites": -5},
        {"max_websites": None},
        {"name": None},
        {"name": "tab\there"},
        {"features": ["bogus"]},
        {"is_default": None},
        {"id": 7},
    ],
)
async def test_bad_input_on_plan_update_gets_422_and_changes_nothing(
    admin_api: Api, admin: Account, body: dict[str, Any]
) -> None:
    await admin_api.login(admin)
    plan = await create_plan(admin_api, max_websites=3)
    response = await admin_api.patch(f"{PLANS}/{plan['id']}", json=body)
    assert response.status_code == 422, response.text
    assert (await admin_api.get(f"{PLANS}/{plan['id']}")).json() == plan


async def test_a_duplicate_plan_name_is_a_conflict(admin_api: Api, admin: Account) -> None:
    await admin_api.login(admin)
    await create_plan(admin_api, name="gold")
    response = await admin_api.post(PLANS, json={"name": "gold"})
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


async def test_assigning_a_plan_shows_in_the_users_own_usage(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    await admin_api.login(admin)
    await user_api.login(alice)
    before = (await user_api.get("/api/v1/account/usage")).json()
    assert (before["plan_id"], before["limits"]["domains"]) == (None, 0)
    plan = await create_plan(admin_api, max_domains=2, max_mailboxes=4, features=["domains", "emails"])
    assigned = await admin_api.put(f"/api/v1/admin/users/{alice.user.id}/plan", json={"plan_id": plan["id"]})
    assert assigned.status_code == 200, assigned.text
    mine = await user_api.get("/api/v1/account/usage")
    assert mine.status_code == 200
    assert mine.json() == {
        "user_id": alice.user.id,
        "plan_id": plan["id"],
        "plan_name": "small",
        "assigned": True,
        "limits": {"domains": 2, "websites": 0, "mailboxes": 4, "mail_quota_mb": 0, "disk_mb": 0},
        "used": {"domains": 0, "websites": 0, "mailboxes": 0, "mail_quota_mb": 0, "disk_mb": 0},
        "features": ["domains", "emails"],
    }
    assert (await admin_api.get(f"{PLANS}/{plan['id']}")).json()["users"] == 1
    assert (await admin_api.delete(f"{PLANS}/{plan['id']}")).status_code == 409
    assert (await admin_api.get(f"/api/v1/admin/users/{alice.user.id}/usage")).json() == mine.json()


@pytest.mark.parametrize("body", [{}, {"plan_id": "1"}, {"plan_id": 0}, {"plan_id": -1}, {"plan_id": [1]}])
async def test_bad_input_on_plan_assignment_gets_422(admin_api: Api, admin: Account, alice: Account, body: Any) -> None:
    await admin_api.login(admin)
    response = await admin_api.put(f"/api/v1/admin/users/{alice.user.id}/plan", json=body)
    assert response.status_code == 422, response.text


async def test_assigning_an_unknown_plan_or_to_an_unknown_user_is_404(
    admin_api: Api, admin: Account, alice: Account
) -> None:
    await admin_api.login(admin)
    plan = await create_plan(admin_api)
    unknown_plan = await admin_api.put(f"/api/v1/admin/users/{alice.user.id}/plan", json={"plan_id": 9999})
    unknown_user = await admin_api.put("/api/v1/admin/users/9999/plan", json={"plan_id": plan["id"]})
    assert (unknown_plan.status_code, unknown_user.status_code) == (404, 404)


async def test_a_limit_reached_is_a_409_naming_the_limit(
    admin_api: Api, user_api: Api, admin: Account, alice: Account
) -> None:
    await admin_api.login(admin)
    await user_api.login(alice)
    plan = await create_plan(admin_api, max_mailboxes=1)
    await admin_api.put(f"/api/v1/admin/users/{alice.user.id}/plan", json={"plan_id": plan["id"]})
    domain = (await user_api.post("/api/v1/mail/domains", json={"name": "example.com"})).json()
    first = await user_api.post(
        f"/api/v1/mail/domains/{domain['id']}/mailboxes",
        json={"local_part": "one", "password": "Tr0ub4dor&3-horse-staple", "quota_mb": 10},
    )
    assert first.status_code == 201, first.text
    second = await user_api.post(
        f"/api/v1/mail/domains/{domain['id']}/mailboxes",
        json={"local_part": "two", "password": "Tr0ub4dor&3-horse-staple", "quota_mb": 10},
    )
    assert second.status_code == 409
    assert second.json()["code"] == "limit_reached"
    assert "allows 1 mailboxes" in second.json()["detail"]
