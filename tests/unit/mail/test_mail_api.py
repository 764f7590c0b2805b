"""The native mail API: what each call does to the panel database and to the lookup rows the daemons read."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

import pytest

from hostplane.runtime import Runtime
from hostplane.system.mailpaths import MailPaths
from hostplane.system.runner import run_sync
from tests.conftest import Account, Api
from tests.unit.mail.conftest import lookup_rows

MAILBOX_PASSWORD = "correct-horse-mailbox-7"
BAD_DOMAINS = [
    "../etc",
    "a/b.example.com",
    "exa mple.com",
    "example.com\r\nx",
    "example.com\nrelay_domains = *",
    "localhost",
    "-bad.example.com",
    "example..com",
    "example.com/../../x",
    "'example.com",
    "%s.example.com",
    "example.com;",
    "",
    "xn--zz.com",
    "mail.xn--zz.example",
]


async def add_domain(api: Api, name: str = "example.com") -> dict[str, Any]:
    response = await api.post("/api/v1/mail/domains", json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_mailbox(api: Api, domain_id: int, local: str = "alice", **extra: Any) -> dict[str, Any]:
    payload = {"local_part": local, "password": MAILBOX_PASSWORD, **extra}
    response = await api.post(f"/api/v1/mail/domains/{domain_id}/mailboxes", json=payload)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def dovecot_verifies(stored: str, password: str) -> bool:
    return run_sync(["doveadm", "pw", "-t", stored, "-p", password], check=False).returncode == 0


def domains_in_lookup(runtime: Runtime) -> list[str]:
    return [name for (name,) in lookup_rows(runtime, "postfix", "SELECT name FROM domains")]


def addresses_in_lookup(runtime: Runtime) -> tuple[list[str], list[str]]:
    postfix = [a for (a,) in lookup_rows(runtime, "postfix", "SELECT address FROM mailboxes ORDER BY address")]
    dovecot = [a for (a,) in lookup_rows(runtime, "dovecot", "SELECT address FROM users ORDER BY address")]
    return postfix, dovecot


async def test_a_new_domain_is_a_lookup_row_at_once(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    body = await add_domain(user_api, "Example.COM")
    assert body["name"] == "example.com"
    assert body["mailbox_count"] == 0
    assert domains_in_lookup(runtime) == ["example.com"]


async def test_idna_domains_are_stored_in_ascii_form(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    body = await add_domain(user_api, "bücher.example")
    assert body["name"] == "xn--bcher-kva.example"
    assert domains_in_lookup(runtime) == ["xn--bcher-kva.example"]


@pytest.mark.parametrize("bad", BAD_DOMAINS)
async def test_bad_domain_names_are_refused_with_422_and_no_lookup_row(
    user_api: Api, alice: Account, runtime: Runtime, bad: str
) -> None:
    await user_api.login(alice)
    response = await user_api.post("/api/v1/mail/domains", json={"name": bad})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert domains_in_lookup(runtime) == []


async def test_a_domain_exists_only_once_across_all_owners(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    await user_api.login(alice)
    await add_domain(user_api)
    bob_api = user_api.from_peer("198.51.100.2")
    await bob_api.login(await make_account("bob"))
    response = await bob_api.post("/api/v1/mail/domains", json={"name": "example.com"})
    assert response.status_code == 409


async def test_a_new_mailbox_is_a_lookup_row_with_a_hash_dovecot_verifies(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    box = await add_mailbox(user_api, domain["id"], "Info", quota_mb=50)
    assert box["address"] == "info@example.com"
    assert box["quota_mb"] == 50
    assert addresses_in_lookup(runtime) == (["info@example.com"], ["info@example.com"])
    [(stored, home, quota_mb)] = lookup_rows(runtime, "dovecot", "SELECT password, home, quota_mb FROM users")
    assert stored.startswith("{ARGON2ID}$argon2id$")
    assert dovecot_verifies(stored, MAILBOX_PASSWORD)
    assert not dovecot_verifies(stored, MAILBOX_PASSWORD + "x")
    assert home == str(MailPaths.from_settings(runtime.settings).vmail / "example.com" / "info")
    assert quota_mb == 50


async def test_the_postfix_lookup_file_holds_no_secret_and_the_dovecot_file_is_root_only(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    await add_mailbox(user_api, domain["id"])
    schema = " ".join(
        sql for (sql,) in lookup_rows(runtime, "postfix", "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
    )
    assert "password" not in schema
    lookup = MailPaths.from_settings(runtime.settings).lookup
    postfix_db, dovecot_db = (lookup / "postfix.db").stat(), (lookup / "dovecot.db").stat()
    assert stat.S_IMODE(dovecot_db.st_mode) == 0o600
    assert stat.S_IMODE(postfix_db.st_mode) == 0o640
    if os.geteuid() == 0:
        import grp

        assert postfix_db.st_gid == grp.getgrnam("postfix").gr_gid
        assert dovecot_db.st_uid == 0


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "a/b", "..", "a\r\nb", "x\nRCPT TO:<root>", "a..b", "a+b", "ab'c", "a%u", "a" * 65]
)
async def test_bad_local_parts_are_refused_with_422_and_no_lookup_row(
    user_api: Api, alice: Account, runtime: Runtime, bad: str
) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    response = await user_api.post(
        f"/api/v1/mail/domains/{domain['id']}/mailboxes", json={"local_part": bad, "password": MAILBOX_PASSWORD}
    )
    assert response.status_code == 422, response.text
    assert addresses_in_lookup(runtime) == ([], [])


@pytest.mark.parametrize("bad", ["short", "password", "correct-horse\nmailbox"])
async def test_weak_mailbox_passwords_are_refused(user_api: Api, alice: Account, runtime: Runtime, bad: str) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    response = await user_api.post(
        f"/api/v1/mail/domains/{domain['id']}/mailboxes", json={"local_part": "alice", "password": bad}
    )
    assert response.status_code == 422
    assert addresses_in_lookup(runtime) == ([], [])


async def test_a_mailbox_exists_once_per_domain(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    await add_mailbox(user_api, domain["id"], "alice")
    response = await user_api.post(
        f"/api/v1/mail/domains/{domain['id']}/mailboxes", json={"local_part": "ALICE", "password": MAILBOX_PASSWORD}
    )
    assert response.status_code == 409


async def test_a_password_change_replaces_the_lookup_hash(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    box = await add_mailbox(user_api, domain["id"])
    new = "another-long-mailbox-pw-9"
    response = await user_api.put(f"/api/v1/mail/mailboxes/{box['id']}/password", json={"password": new})
    assert response.status_code == 204
    [(stored,)] = lookup_rows(runtime, "dovecot", "SELECT password FROM users")
    assert dovecot_verifies(stored, new)
    assert not dovecot_verifies(stored, MAILBOX_PASSWORD)


async def test_deleting_a_mailbox_removes_its_rows_and_archives_its_maildir(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    box = await add_mailbox(user_api, domain["id"])
    await add_mailbox(user_api, domain["id"], "bob")
    paths = MailPaths.from_settings(runtime.settings)
    message = paths.vmail / "example.com" / "alice" / "Maildir" / "new" / "1.msg"
    message.parent.mkdir(parents=True)
    message.write_text("Subject: kept\n\nhello\n")
    response = await user_api.delete(f"/api/v1/mail/mailboxes/{box['id']}")
    assert response.status_code == 200
    assert response.json() == {"maildir": "archived"}
    assert addresses_in_lookup(runtime) == (["bob@example.com"], ["bob@example.com"])
    assert not message.exists()
    [archived] = list(paths.archive.rglob("1.msg"))
    assert archived.read_text() == "Subject: kept\n\nhello\n"
    assert (await user_api.get(f"/api/v1/mail/mailboxes/{box['id']}")).status_code == 404


async def test_deleting_a_mailbox_can_remove_its_mail_for_good(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    box = await add_mailbox(user_api, domain["id"])
    paths = MailPaths.from_settings(runtime.settings)
    (paths.vmail / "example.com" / "alice" / "Maildir").mkdir(parents=True)
    response = await user_api.delete(f"/api/v1/mail/mailboxes/{box['id']}?maildir=remove")
    assert response.json() == {"maildir": "removed"}
    assert not (paths.vmail / "example.com" / "alice").exists()
    assert not paths.archive.exists() or list(paths.archive.iterdir()) == []


async def test_deleting_a_domain_removes_every_row_under_it(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    kept = await add_domain(user_api, "kept.example")
    await add_mailbox(user_api, kept["id"], "stay")
    domain = await add_domain(user_api)
    await add_mailbox(user_api, domain["id"], "alice")
    await user_api.post(
        f"/api/v1/mail/domains/{domain['id']}/aliases", json={"local_part": "info", "destination": "alice@example.com"}
    )
    response = await user_api.delete(f"/api/v1/mail/domains/{domain['id']}")
    assert response.status_code == 200
    assert domains_in_lookup(runtime) == ["kept.example"]
    assert addresses_in_lookup(runtime) == (["stay@kept.example"], ["stay@kept.example"])
    assert lookup_rows(runtime, "postfix", "SELECT * FROM aliases") == []
    listed = (await user_api.get("/api/v1/mail/domains")).json()
    assert [d["name"] for d in listed] == ["kept.example"]
    assert listed[0]["mailbox_count"] == 1


async def test_aliases_are_lookup_rows_and_cannot_shadow_a_mailbox(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    await add_mailbox(user_api, domain["id"], "alice")
    url = f"/api/v1/mail/domains/{domain['id']}/aliases"
    response = await user_api.post(url, json={"local_part": "info", "destination": "Alice@Example.com"})
    assert response.status_code == 201, response.text
    alias = response.json()
    assert alias["address"] == "info@example.com"
    assert alias["destination"] == "alice@example.com"
    assert lookup_rows(runtime, "postfix", "SELECT source, destination FROM aliases") == [
        ("info@example.com", "alice@example.com")
    ]
    assert (await user_api.post(url, json={"local_part": "alice", "destination": "x@example.com"})).status_code == 409
    looping = await user_api.post(url, json={"local_part": "loop", "destination": "loop@example.com"})
    assert looping.status_code == 422
    bad = await user_api.post(url, json={"local_part": "x", "destination": "a@b\r\nc"})
    assert bad.status_code == 422
    assert (await user_api.delete(f"/api/v1/mail/aliases/{alias['id']}")).status_code == 204
    assert lookup_rows(runtime, "postfix", "SELECT * FROM aliases") == []


async def test_another_users_mail_objects_are_404_everywhere(
    user_api: Api, alice: Account, make_account: Callable[..., Any], runtime: Runtime
) -> None:
    await user_api.login(alice)
    domain = await add_domain(user_api)
    box = await add_mailbox(user_api, domain["id"])
    alias = (
        await user_api.post(
            f"/api/v1/mail/domains/{domain['id']}/aliases", json={"local_part": "info", "destination": "a@b.example"}
        )
    ).json()
    bob = user_api.from_peer("198.51.100.2")
    await bob.login(await make_account("bob"))
    attempts = [
        bob.get(f"/api/v1/mail/domains/{domain['id']}"),
        bob.get(f"/api/v1/mail/domains/{domain['id']}/mailboxes"),
        bob.get(f"/api/v1/mail/domains/{domain['id']}/aliases"),
        bob.post(
            f"/api/v1/mail/domains/{domain['id']}/mailboxes",
            json={"local_part": "evil", "password": MAILBOX_PASSWORD},
        ),
        bob.post(f"/api/v1/mail/domains/{domain['id']}/aliases", json={"local_part": "evil", "destination": "a@b.cd"}),
        bob.get(f"/api/v1/mail/mailboxes/{box['id']}"),
        bob.put(f"/api/v1/mail/mailboxes/{box['id']}/password", json={"password": "bobs-takeover-pass-1"}),
        bob.delete(f"/api/v1/mail/mailboxes/{box['id']}"),
        bob.delete(f"/api/v1/mail/aliases/{alias['id']}"),
        bob.delete(f"/api/v1/mail/domains/{domain['id']}"),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404, (response.request.method, response.request.url, response.text)
    assert (await bob.get("/api/v1/mail/domains")).json() == []
    assert addresses_in_lookup(runtime) == (["alice@example.com"], ["alice@example.com"])
    [(stored,)] = lookup_rows(runtime, "dovecot", "SELECT password FROM users")
    assert dovecot_verifies(stored, MAILBOX_PASSWORD)


async def test_mail_routes_need_a_login(user_api: Api) -> None:
    response = await user_api.get("/api/v1/mail/domains")
    assert response.status_code == 401


async def test_an_api_key_without_the_mail_scope_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    created = await user_api.post("/api/v1/account/api-keys", json={"description": "ro", "scopes": ["mail:read"]})
    token = created.json()["token"]
    assert (await user_api.get("/api/v1/mail/domains", token=token)).status_code == 200
    response = await user_api.post("/api/v1/mail/domains", token=token, json={"name": "example.com"})
    assert response.status_code == 403
