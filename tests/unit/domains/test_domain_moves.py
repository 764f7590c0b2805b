"""An administrator moves a domain between accounts (POST /api/v1/admin/domains/{id}/move and the mail twin): the
whole tree the old owner holds from that name down moves, rows, website folders and the nginx configuration (checked
with the real `nginx -t`) in one unit; the old owner gets 404, the new owner's limits apply, both accounts' activity
logs say so, and any refusal or failure leaves everything as it was. No nginx runs here (tests/integration)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hostplane.activity.log import Actor
from hostplane.app import create_app
from hostplane.domains.models import Domain
from hostplane.mail.models import MailDomain
from hostplane.plans.service import PlanService
from hostplane.runtime import Runtime
from hostplane.system import nginx as nginx_module
from hostplane.system.nginx import Site, vhost_file
from tests.conftest import Account, Api, activity_events
from tests.unit.domains.test_domains_api import live_files
from tests.unit.mail.conftest import lookup_rows

MAILBOX_PASSWORD = "correct-horse-mailbox-7"


@pytest.fixture
async def as_admin(admin_api: Api, admin: Account) -> Api:
    await admin_api.login(admin)
    return admin_api


def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def alices_tree(as_alice: Api) -> dict[str, Any]:
    """example.com with www, blog.example.com (a main domain below it), the mail domains example.com (with a
    mailbox) and lists.example.com, and an unrelated other.test: what alice holds."""
    main = ok(await as_alice.post("/api/v1/domains", json={"name": "example.com"}))
    www = ok(await as_alice.post(f"/api/v1/domains/{main['id']}/subdomains", json={"name": "www"}))
    blog = ok(await as_alice.post("/api/v1/domains", json={"name": "blog.example.com"}))
    other = ok(await as_alice.post("/api/v1/domains", json={"name": "other.test"}))
    mail = ok(await as_alice.post("/api/v1/mail/domains", json={"name": "example.com"}))
    lists = ok(await as_alice.post("/api/v1/mail/domains", json={"name": "lists.example.com"}))
    box = {"local_part": "info", "password": MAILBOX_PASSWORD, "quota_mb": 100}
    ok(await as_alice.post(f"/api/v1/mail/domains/{mail['id']}/mailboxes", json=box))
    docroot = Path(main["docroot"])
    (docroot / "hello.txt").write_text("uploaded by alice\n")
    return {"main": main, "www": www, "blog": blog, "other": other, "mail": mail, "lists": lists}


async def move(api: Api, domain_id: int, user_id: int, *, mail: bool = False) -> Any:
    path = f"/api/v1/admin/{'mail/' if mail else ''}domains/{domain_id}/move"
    return await api.post(path, json={"user_id": user_id})


async def rows(runtime: Runtime) -> list[tuple[str, str, int, str]]:
    async with runtime.reading() as db:
        websites = [("website", d.name, d.user_id, d.docroot) for d in await db.scalars(select(Domain))]
        mail = [("mail", d.name, d.user_id, "") for d in await db.scalars(select(MailDomain))]
    return sorted(websites + mail)


def www(runtime: Runtime) -> Path:
    return runtime.settings.resolved_www_dir


async def test_the_name_moves_with_everything_below_it_and_the_old_owner_gets_404(
    as_admin: Api,
    as_alice: Api,
    as_bob: Api,
    alices_tree: dict[str, Any],
    alice: Account,
    bob: Account,
    runtime: Runtime,
) -> None:
    main, sub = alices_tree["main"], alices_tree["www"]
    moved = ok(await move(as_admin, main["id"], bob.user.id), 200)
    assert moved == {
        "name": "example.com",
        "from_user_id": alice.user.id,
        "to_user_id": bob.user.id,
        "websites": ["blog.example.com", "example.com", "www.example.com"],
        "mail_domains": ["example.com", "lists.example.com"],
    }
    bobs = {domain["name"]: domain for domain in ok(await as_bob.get("/api/v1/domains"), 200)}
    assert set(bobs) == {"example.com", "www.example.com", "blog.example.com"}
    assert bobs["www.example.com"]["parent_id"] == main["id"]
    assert bobs["example.com"]["docroot"] == str(www(runtime) / "bob" / "example.com" / "public")
    assert [d["name"] for d in ok(await as_alice.get("/api/v1/domains"), 200)] == ["other.test"]
    for domain_id in (main["id"], sub["id"]):
        assert (await as_alice.get(f"/api/v1/domains/{domain_id}")).status_code == 404
        assert (await as_bob.get(f"/api/v1/domains/{domain_id}")).status_code == 200
    mail_id = alices_tree["mail"]["id"]
    assert (await as_alice.get(f"/api/v1/mail/domains/{mail_id}")).status_code == 404
    boxes = ok(await as_bob.get(f"/api/v1/mail/domains/{mail_id}/mailboxes"), 200)
    assert [box["address"] for box in boxes] == ["info@example.com"]


async def test_the_files_move_to_the_new_owners_folder_and_nginx_serves_them_from_there(
    as_admin: Api, alices_tree: dict[str, Any], bob: Account, runtime: Runtime
) -> None:
    ok(await move(as_admin, alices_tree["main"]["id"], bob.user.id), 200)
    new = www(runtime) / "bob" / "example.com" / "public"
    assert (new / "hello.txt").read_text() == "uploaded by alice\n"
    assert (new / "index.html").exists()
    assert not (www(runtime) / "alice" / "example.com").exists()
    assert not (www(runtime) / "alice" / "www.example.com").exists()
    assert (www(runtime) / "alice" / "other.test" / "public").is_dir()
    assert os.stat(www(runtime) / "bob").st_mode & 0o777 == 0o755
    live = live_files(runtime)
    assert f'root "{new}";' in live[vhost_file("example.com")]
    assert f'root "{www(runtime) / "bob" / "www.example.com" / "public"}";' in live[vhost_file("www.example.com")]


async def test_mail_flows_on_unchanged(
    as_admin: Api, alices_tree: dict[str, Any], bob: Account, runtime: Runtime
) -> None:
    before = (
        lookup_rows(runtime, "postfix", "SELECT * FROM domains ORDER BY 1"),
        lookup_rows(runtime, "dovecot", "SELECT * FROM users ORDER BY 1"),
    )
    ok(await move(as_admin, alices_tree["main"]["id"], bob.user.id), 200)
    after = (
        lookup_rows(runtime, "postfix", "SELECT * FROM domains ORDER BY 1"),
        lookup_rows(runtime, "dovecot", "SELECT * FROM users ORDER BY 1"),
    )
    assert after == before
    assert before[0] and before[1]


async def test_after_the_move_the_tree_is_the_new_owners_and_closed_to_the_old(
    as_admin: Api, as_alice: Api, as_bob: Api, alices_tree: dict[str, Any], bob: Account
) -> None:
    ok(await move(as_admin, alices_tree["main"]["id"], bob.user.id), 200)
    for path, name in (("/api/v1/domains", "shop.example.com"), ("/api/v1/mail/domains", "www.example.com")):
        refused = await as_alice.post(path, json={"name": name})
        assert (refused.status_code, refused.json()["detail"]) == (409, "This domain name is not available.")
        ok(await as_bob.post(path, json={"name": name}))


async def test_both_accounts_activity_logs_record_the_move_without_naming_the_other(
    as_admin: Api, alices_tree: dict[str, Any], alice: Account, bob: Account, admin: Account, runtime: Runtime
) -> None:
    ok(await move(as_admin, alices_tree["main"]["id"], bob.user.id), 200)
    (gone,) = await activity_events(runtime, alice.user.id, "admin.domain.moved_out")
    (came,) = await activity_events(runtime, bob.user.id, "admin.domain.moved_in")
    for entry in (gone, came):
        assert entry.actor_id == admin.user.id
        assert entry.properties["name"] == "example.com"
        assert entry.properties["websites"] == ["blog.example.com", "example.com", "www.example.com"]
        assert entry.properties["mail_domains"] == ["example.com", "lists.example.com"]
        assert "bob" not in str(entry.properties) and "alice" not in str(entry.properties)
    listed = ok(await as_admin.get("/api/v1/admin/activity", params={"event": "admin.domain.*"}), 200)
    assert {entry["event"] for entry in listed["data"]} == {"admin.domain.moved_in", "admin.domain.moved_out"}


async def test_a_mail_only_name_moves_through_the_mail_route(
    as_admin: Api, as_alice: Api, as_bob: Api, bob: Account, runtime: Runtime
) -> None:
    mail = ok(await as_alice.post("/api/v1/mail/domains", json={"name": "mail.test"}))
    moved = ok(await move(as_admin, mail["id"], bob.user.id, mail=True), 200)
    assert (moved["websites"], moved["mail_domains"]) == ([], ["mail.test"])
    assert [d["name"] for d in ok(await as_bob.get("/api/v1/mail/domains"), 200)] == ["mail.test"]
    assert ok(await as_alice.get("/api/v1/mail/domains"), 200) == []


async def test_a_name_below_another_of_its_owners_names_cannot_move_alone(
    as_admin: Api, alices_tree: dict[str, Any], bob: Account, runtime: Runtime
) -> None:
    before = await rows(runtime)
    for domain_id, mail in ((alices_tree["www"]["id"], False), (alices_tree["blog"]["id"], False)):
        refused = await move(as_admin, domain_id, bob.user.id, mail=mail)
        assert refused.status_code == 409, refused.text
        assert "move example.com" in refused.json()["detail"]
    refused = await move(as_admin, alices_tree["lists"]["id"], bob.user.id, mail=True)
    assert refused.status_code == 409
    assert await rows(runtime) == before


async def test_a_move_to_the_owner_unknown_ids_and_bad_bodies_are_refused_cleanly(
    as_admin: Api, alices_tree: dict[str, Any], alice: Account, runtime: Runtime
) -> None:
    before = await rows(runtime)
    main_id = alices_tree["main"]["id"]
    same = await move(as_admin, main_id, alice.user.id)
    assert (same.status_code, same.json()["detail"]) == (409, "example.com belongs to this account already.")
    assert (await move(as_admin, 999999, alice.user.id)).status_code == 404
    assert (await move(as_admin, 999999, alice.user.id, mail=True)).status_code == 404
    assert (await move(as_admin, main_id, 999999)).json()["detail"] == "No such user."
    for bad_id in ("0", "-1", str(2**31), str(2**64), "abc", "1.5"):
        response = await as_admin.post(f"/api/v1/admin/domains/{bad_id}/move", json={"user_id": alice.user.id})
        assert response.status_code == 422, (bad_id, response.text)
    for body in ({}, {"user_id": 0}, {"user_id": 2**31}, {"user_id": "x"}, {"user_id": 1, "extra": 1}, [1]):
        response = await as_admin.post(f"/api/v1/admin/domains/{main_id}/move", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert await rows(runtime) == before


async def test_only_an_administrator_on_the_admin_port_moves_a_domain(
    as_alice: Api, alices_tree: dict[str, Any], alice: Account, bob: Account, runtime: Runtime
) -> None:
    path = f"/api/v1/admin/domains/{alices_tree['main']['id']}/move"
    assert (await as_alice.post(path, json={"user_id": bob.user.id})).status_code == 404  # not on the user port
    admin_port = Api(create_app(runtime, "admin"))
    try:
        await admin_port.login(alice)
        assert (await admin_port.post(path, json={"user_id": bob.user.id})).status_code == 403
        assert (await admin_port.post(path, json={"user_id": bob.user.id}, token="nothing")).status_code == 401
    finally:
        await admin_port.aclose()
    assert {owner for _kind, _name, owner, _docroot in await rows(runtime)} == {alice.user.id}


@pytest.mark.parametrize(
    ("limits", "resource"),
    [
        ({"max_domains": 2}, "domains"),  # example.com and blog.example.com are main domains
        ({"max_websites": 3}, "websites"),
        ({"max_mailboxes": 1}, "mailboxes"),
        ({"max_mail_quota_mb": 50}, "MB of mailbox quota"),
    ],
)
async def test_the_new_owners_plan_limits_apply_and_a_refused_move_changes_nothing(
    as_admin: Api,
    as_bob: Api,
    alices_tree: dict[str, Any],
    bob: Account,
    runtime: Runtime,
    limits: dict[str, int],
    resource: str,
) -> None:
    plans = PlanService(runtime)
    plan = await plans.create(Actor(None, "test"), name="small", **limits)
    await plans.assign(Actor(None, "test"), bob.user.id, plan.plan.id)
    ok(await as_bob.post("/api/v1/domains", json={"name": "bob.test"}))
    box = {"local_part": "bob", "password": MAILBOX_PASSWORD, "quota_mb": 10}
    bobs_mail = ok(await as_bob.post("/api/v1/mail/domains", json={"name": "bob.test"}))
    ok(await as_bob.post(f"/api/v1/mail/domains/{bobs_mail['id']}/mailboxes", json=box))
    before, files_before = await rows(runtime), sorted(os.walk(www(runtime)))
    refused = await move(as_admin, alices_tree["main"]["id"], bob.user.id)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "limit_reached"
    assert resource in refused.json()["detail"]
    assert await rows(runtime) == before
    assert sorted(os.walk(www(runtime))) == files_before
    assert (www(runtime) / "alice" / "example.com" / "public" / "hello.txt").exists()


async def test_a_folder_in_the_way_refuses_the_move_and_changes_nothing(
    as_admin: Api, alices_tree: dict[str, Any], bob: Account, runtime: Runtime
) -> None:
    in_the_way = www(runtime) / "bob" / "www.example.com"  # the second site to move: the first is taken back
    in_the_way.mkdir(parents=True)
    (in_the_way / "kept.txt").write_text("bob's old files\n")
    before, live_before = await rows(runtime), live_files(runtime)
    refused = await move(as_admin, alices_tree["main"]["id"], bob.user.id)
    assert refused.status_code == 409, refused.text
    assert str(in_the_way) in refused.json()["detail"]
    assert await rows(runtime) == before
    assert live_files(runtime) == live_before
    assert (in_the_way / "kept.txt").read_text() == "bob's old files\n"
    assert (www(runtime) / "alice" / "example.com" / "public" / "hello.txt").exists()
    assert (www(runtime) / "alice" / "blog.example.com" / "public").is_dir()
    assert not (www(runtime) / "bob" / "example.com").exists()


async def test_when_nginx_refuses_the_configuration_the_files_and_rows_go_back(
    as_admin: Api, alices_tree: dict[str, Any], bob: Account, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, live_before = await rows(runtime), live_files(runtime)

    def broken_vhost(site: Site, listen: tuple[str, ...], acme_webroot: Path) -> str:
        return f"server {{ listen {listen[0]}; server_name {site.name}; no_such_directive on; }}\n"

    monkeypatch.setattr(nginx_module, "render_vhost", broken_vhost)
    refused = await move(as_admin, alices_tree["main"]["id"], bob.user.id)
    assert refused.status_code == 502, refused.text
    assert await rows(runtime) == before
    assert live_files(runtime) == live_before
    assert (www(runtime) / "alice" / "example.com" / "public" / "hello.txt").read_text() == "uploaded by alice\n"
    assert (www(runtime) / "alice" / "www.example.com" / "public" / "index.html").exists()
    assert not (www(runtime) / "bob").exists()
    assert await activity_events(runtime, bob.user.id, "admin.domain.moved_in") == []
