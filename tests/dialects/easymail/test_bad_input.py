"""Bad input through the EasySuperSecureEmail dialect: the core's grammars (DESIGN.md section 6) answer it, in
the dialect's shape `{result: false, msg}` with 4xx, never a trace, and nothing changes (panel rows, lookup rows)."""

from __future__ import annotations

from typing import Any

import pytest

from hostplane.errors import ServiceFailed
from hostplane.mail.service import MailService
from hostplane.runtime import Runtime
from hostplane.system.maillookup import MailLookup
from tests.conftest import Api
from tests.dialects.easymail.conftest import MAILBOX_PASSWORD
from tests.dialects.easymail.easy import Easy, Encoding, assert_failure
from tests.dialects.easymail.test_reference_examples import create_domain
from tests.unit.mail.test_mail_api import BAD_DOMAINS, addresses_in_lookup, domains_in_lookup

BAD_LOCAL_PARTS = ["../x", "a/b", "..", ".x", "x.", "a..b", "a b", "a+b", "ä", "x" * 65, "a\\b", "%2e%2e", "'a"]
CONTROL = ["\r", "\n", "\r\n", "\x00", "\t", "\x7f"]


async def snapshot(easy: Easy, runtime: Runtime) -> tuple[Any, ...]:
    domains = (await easy.call("GET", "/domains")).json()["domains"]
    users = [(await easy.call("GET", f"/users/{domain['id']}")).json() for domain in domains]
    return domains, users, domains_in_lookup(runtime), addresses_in_lookup(runtime)


@pytest.mark.parametrize("bad", BAD_DOMAINS)
async def test_bad_domain_names_are_400_and_create_nothing(alice_easy: Easy, runtime: Runtime, bad: str) -> None:
    before = await snapshot(alice_easy, runtime)
    response = await alice_easy.call(
        "POST", "/domains", {"domain": bad, "username": "admin", "password": MAILBOX_PASSWORD}
    )
    assert_failure(response, 400)
    assert await snapshot(alice_easy, runtime) == before


@pytest.mark.parametrize("bad", BAD_DOMAINS)
async def test_bad_domain_names_are_400_when_deleting_or_signing_too(
    alice_easy: Easy, runtime: Runtime, bad: str
) -> None:
    await create_domain(alice_easy, "example.com")
    before = await snapshot(alice_easy, runtime)
    assert_failure(await alice_easy.call("DELETE", "/domain", {"domain": bad}), 400)
    assert_failure(await alice_easy.call("DELETE", "/users", {"email": f"admin@{bad}"}), 400)
    assert_failure(await alice_easy.call("POST", "/dkim/add-new-domain", {"domain": bad}), 400)
    assert await snapshot(alice_easy, runtime) == before


@pytest.mark.parametrize("bad", BAD_LOCAL_PARTS)
async def test_bad_local_parts_and_path_traversal_are_400_and_create_nothing(
    alice_easy: Easy, runtime: Runtime, bad: str
) -> None:
    domain_id = (await create_domain(alice_easy))["domain"]["id"]
    before = await snapshot(alice_easy, runtime)
    for email in (bad, f"{bad}@example.com"):
        response = await alice_easy.call("POST", f"/user/{domain_id}", {"email": email, "password": MAILBOX_PASSWORD})
        assert_failure(response, 400)
    response = await alice_easy.call(
        "POST", "/domains", {"domain": "new.example", "username": bad, "password": MAILBOX_PASSWORD}
    )
    assert_failure(response, 400)
    assert await snapshot(alice_easy, runtime) == before
    assert not (runtime.settings.state_dir / "x").exists()


@pytest.mark.parametrize("char", CONTROL, ids=["cr", "lf", "crlf", "nul", "tab", "del"])
@pytest.mark.parametrize("field", ["domain", "username", "password"])
async def test_control_characters_in_any_field_are_400_and_create_nothing(
    alice_easy: Easy, runtime: Runtime, field: str, char: str
) -> None:
    fields = {"domain": "example.com", "username": "admin", "password": MAILBOX_PASSWORD}
    fields[field] = fields[field][:3] + char + "Bcc: x" + fields[field][3:]
    before = await snapshot(alice_easy, runtime)
    assert_failure(await alice_easy.call("POST", "/domains", fields), 400)
    assert await snapshot(alice_easy, runtime) == before


@pytest.mark.parametrize("char", CONTROL, ids=["cr", "lf", "crlf", "nul", "tab", "del"])
async def test_control_characters_in_a_new_password_are_400_and_change_nothing(
    alice_easy: Easy, runtime: Runtime, char: str
) -> None:
    created = await create_domain(alice_easy)
    before = await snapshot(alice_easy, runtime)
    fields = {"id": str(created["user"]["id"]), "password": f"new-pass{char}word-1"}
    encodings: tuple[Encoding, ...] = ("multipart", "urlencoded", "query")
    for encoding in encodings:
        assert_failure(await alice_easy.call("POST", "/user-change-password", fields, encoding=encoding), 400)
    assert await snapshot(alice_easy, runtime) == before


@pytest.mark.parametrize(
    ("field", "size"), [("domain", 5000), ("username", 5000), ("password", 5000), ("password", 200), ("domain", 300)]
)
async def test_oversized_fields_are_400_and_create_nothing(
    alice_easy: Easy, runtime: Runtime, field: str, size: int
) -> None:
    fields = {"domain": "example.com", "username": "admin", "password": MAILBOX_PASSWORD}
    fields[field] = "a" * size
    assert_failure(await alice_easy.call("POST", "/domains", fields), 400)
    assert await snapshot(alice_easy, runtime) == ([], [], [], ([], []))


async def test_a_weak_first_password_creates_neither_the_domain_nor_the_mailbox(
    alice_easy: Easy, runtime: Runtime
) -> None:
    for password in ("short", "password123", "admin@example.com"):
        response = await alice_easy.call(
            "POST", "/domains", {"domain": "example.com", "username": "admin", "password": password}
        )
        assert_failure(response, 400)
    assert await snapshot(alice_easy, runtime) == ([], [], [], ([], []))


async def test_a_first_mailbox_at_another_domain_creates_nothing(alice_easy: Easy, runtime: Runtime) -> None:
    response = await alice_easy.call(
        "POST", "/domains", {"domain": "example.com", "username": "admin@other.example", "password": MAILBOX_PASSWORD}
    )
    assert "example.com" in assert_failure(response, 400)
    assert await snapshot(alice_easy, runtime) == ([], [], [], ([], []))


async def test_when_the_first_mailbox_fails_later_the_new_domain_is_taken_back(
    alice_easy: Easy, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_args: Any, **_kwargs: Any) -> None:
        raise ServiceFailed("Dovecot refused the change.")

    monkeypatch.setattr(MailLookup, "put_mailbox", refused)  # after the domain's rows, in the same unit
    response = await alice_easy.call(
        "POST", "/domains", {"domain": "example.com", "username": "admin", "password": MAILBOX_PASSWORD}
    )
    assert_failure(response, 502)
    assert await snapshot(alice_easy, runtime) == ([], [], [], ([], []))


async def test_an_existing_domain_or_address_is_409_and_changes_nothing(alice_easy: Easy, runtime: Runtime) -> None:
    domain_id = (await create_domain(alice_easy))["domain"]["id"]
    before = await snapshot(alice_easy, runtime)
    again = await alice_easy.call(
        "POST", "/domains", {"domain": "example.com", "username": "other", "password": MAILBOX_PASSWORD}
    )
    assert_failure(again, 409)
    taken = await alice_easy.call("POST", f"/user/{domain_id}", {"email": "admin", "password": MAILBOX_PASSWORD})
    assert_failure(taken, 409)
    assert await snapshot(alice_easy, runtime) == before


async def test_a_user_at_another_domain_than_the_domain_id_is_400(alice_easy: Easy, runtime: Runtime) -> None:
    domain_id = (await create_domain(alice_easy))["domain"]["id"]
    await create_domain(alice_easy, "other.example")
    before = await snapshot(alice_easy, runtime)
    response = await alice_easy.call(
        "POST", f"/user/{domain_id}", {"email": "bob@other.example", "password": MAILBOX_PASSWORD}
    )
    assert_failure(response, 400)
    assert await snapshot(alice_easy, runtime) == before


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("abc", 400),
        ("-1", 400),
        ("1.5", 400),
        ("1e3", 400),
        ("0", 404),
        (str(2**31 - 1), 404),
        (str(2**31), 404),
        (str(2**63), 404),
        (str(2**64), 404),
        ("9" * 30, 404),
        ("9" * 4000, 404),
    ],
)
async def test_bad_ids_are_refused(alice_easy: Easy, runtime: Runtime, value: str, status: int) -> None:
    created = await create_domain(alice_easy)
    before = await snapshot(alice_easy, runtime)
    assert_failure(await alice_easy.call("GET", f"/users/{value}"), status)
    assert_failure(
        await alice_easy.call("POST", f"/user/{value}", {"email": "x", "password": MAILBOX_PASSWORD}), status
    )
    change = {"id": value, "password": "brand-new-pass-1", "domain_id": str(created["domain"]["id"])}
    assert_failure(await alice_easy.call("POST", "/user-change-password", change), status)
    mismatched = {"id": str(created["user"]["id"]), "password": "brand-new-pass-1", "domain_id": value}
    assert_failure(await alice_easy.call("POST", "/user-change-password", mismatched), status)
    assert await snapshot(alice_easy, runtime) == before


async def test_change_password_with_the_users_id_under_another_domain_is_404(
    alice_easy: Easy, runtime: Runtime
) -> None:
    created = await create_domain(alice_easy)
    other = await create_domain(alice_easy, "other.example")
    fields = {"id": str(created["user"]["id"]), "password": "brand-new-pass-1", "domain_id": str(other["domain"]["id"])}
    before = await snapshot(alice_easy, runtime)
    assert_failure(await alice_easy.call("POST", "/user-change-password", fields), 404)
    assert await snapshot(alice_easy, runtime) == before


async def test_a_missing_parameter_is_400_naming_it(alice_easy: Easy) -> None:
    msg = assert_failure(await alice_easy.call("POST", "/domains", {"domain": "example.com", "username": "a"}), 400)
    assert "password" in msg
    assert "email" in assert_failure(await alice_easy.call("DELETE", "/users"), 400)


async def test_a_parameter_given_twice_is_400(alice_easy: Easy, runtime: Runtime) -> None:
    response = await alice_easy.api.http.post(
        "/easymail/domains?domain=evil.example",
        headers={"Auth-token": alice_easy.token or ""},
        data={"domain": "example.com", "username": "admin", "password": MAILBOX_PASSWORD},
    )
    assert_failure(response, 400)
    assert await snapshot(alice_easy, runtime) == ([], [], [], ([], []))


async def test_too_many_parameters_are_400(alice_easy: Easy) -> None:
    fields = {f"f{i}": "x" for i in range(40)}
    assert_failure(await alice_easy.call("GET", "/domains", fields, encoding="urlencoded"), 400)
    assert_failure(await alice_easy.call("GET", "/domains", fields, encoding="query"), 400)
    assert_failure(await alice_easy.call("GET", "/domains", fields), 400)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/json", b'{"domain": "example.com"}'),
        ("application/json", b"[" * 5000 + b"]" * 5000),
        ("text/plain", b"domain=example.com"),
        (None, b"domain=example.com"),
    ],
)
async def test_a_body_in_another_encoding_is_415(
    alice_easy: Easy, runtime: Runtime, content_type: str | None, content: bytes
) -> None:
    headers = {"Auth-token": alice_easy.token or ""}
    if content_type:
        headers["Content-Type"] = content_type
    response = await alice_easy.api.http.request("DELETE", "/easymail/domain", headers=headers, content=content)
    assert_failure(response, 415)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", b"domain=%ff%fe.example"),
        ("application/x-www-form-urlencoded", b"domain=\xff\xfe"),
        ("multipart/form-data; boundary=xyz", b'--xyz\r\nContent-Disposition: form-data; name="domain"\r\n\r\nexa'),
        ("multipart/form-data", b"--xyz\r\n"),
    ],
)
async def test_an_unreadable_form_is_400_and_changes_nothing(
    alice_easy: Easy, runtime: Runtime, content_type: str, content: bytes
) -> None:
    await create_domain(alice_easy, "example.com")
    before = await snapshot(alice_easy, runtime)
    headers = {"Auth-token": alice_easy.token or "", "Content-Type": content_type}
    response = await alice_easy.api.http.request("DELETE", "/easymail/domain", headers=headers, content=content)
    assert_failure(response, 400)
    assert await snapshot(alice_easy, runtime) == before


async def test_a_body_over_the_limit_is_413_in_the_dialects_shape(alice_easy: Easy, runtime: Runtime) -> None:
    big = "a" * (runtime.settings.max_body_bytes + 1)
    response = await alice_easy.call("POST", "/domains", {"domain": "example.com", "username": "a", "password": big})
    assert_failure(response, 413)
    assert await snapshot(alice_easy, runtime) == ([], [], [], ([], []))


async def test_unknown_routes_and_wrong_methods_answer_in_the_dialects_shape(alice_easy: Easy, admin_api: Api) -> None:
    assert_failure(await alice_easy.call("GET", "/no-such-thing"), 404)
    assert_failure(await alice_easy.call("GET", "/auth"), 405)
    assert_failure(await alice_easy.call("PUT", "/domains"), 405)
    assert_failure(await alice_easy.call("GET", "/users"), 405)


async def test_an_internal_error_answers_without_details(
    alice_easy: Easy, admin_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("postgresql://u:hunter2@db/x")

    monkeypatch.setattr(MailService, "list_domains", broken)
    response = await alice_easy.call("GET", "/domains")
    msg = assert_failure(response, 500)
    assert "hunter2" not in response.text and "RuntimeError" not in msg
