"""Every example of the EasySuperSecureEmail reference, sent as its curl line shows (method, Auth-token and
Cache-Control headers, -F fields as multipart/form-data even on GET and DELETE), checked for shape and types."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD, Account, Api
from tests.dialects.easymail.conftest import MAILBOX_PASSWORD
from tests.dialects.easymail.easy import Easy, Encoding, assert_failure


async def create_domain(easy: Easy, domain: str = "example.com", username: str = "admin") -> dict[str, Any]:
    response = await easy.call(
        "POST", "/domains", {"domain": domain, "username": username, "password": MAILBOX_PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def native_mailboxes(api: Api, token: str, domain_id: int) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/mail/domains/{domain_id}/mailboxes", token=token)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


async def test_auth_returns_result_true_and_a_token(easy: Easy, alice: Account) -> None:
    response = await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"result", "token"}
    assert body["result"] is True
    assert isinstance(body["token"], str) and body["token"]


async def test_auth_with_a_wrong_password_returns_the_documented_error(easy: Easy, alice: Account) -> None:
    response = await easy.call("POST", "/auth", {"username": "alice", "password": "not-the-password"})
    assert assert_failure(response, 401) == "Username/password is not correct"


async def test_get_domains_lists_id_name_and_users_count(alice_easy: Easy) -> None:
    await create_domain(alice_easy, "example.com")
    await create_domain(alice_easy, "anotherexample.com")
    await alice_easy.call("POST", "/user/2", {"email": "info@anotherexample.com", "password": MAILBOX_PASSWORD})
    response = await alice_easy.call("GET", "/domains")
    assert response.status_code == 200
    assert response.json() == {
        "domains": [
            {"id": 2, "name": "anotherexample.com", "users_count": 2},
            {"id": 1, "name": "example.com", "users_count": 1},
        ]
    }


async def test_get_users_of_a_domain_lists_id_domain_id_and_email(alice_easy: Easy) -> None:
    created = await create_domain(alice_easy, "example.com", "admin")
    domain_id = created["domain"]["id"]
    response = await alice_easy.call("GET", f"/users/{domain_id}")
    assert response.status_code == 200
    assert response.json() == {
        "users": [{"id": created["user"]["id"], "domain_id": domain_id, "email": "admin@example.com"}]
    }


async def test_create_domain_adds_the_domain_and_its_first_email_account(
    alice_easy: Easy, admin_api: Api, alice: Account
) -> None:
    body = await create_domain(alice_easy, "alsoanotherexample.com", "USERNAME@alsoanotherexample.com")
    assert body["result"] is True
    assert body["domain"] == {"id": body["domain"]["id"], "name": "alsoanotherexample.com", "users_count": 1}
    assert isinstance(body["domain"]["id"], int)
    assert body["user"] == {
        "id": body["user"]["id"],
        "domain_id": body["domain"]["id"],
        "email": "username@alsoanotherexample.com",
    }
    assert isinstance(body["user"]["id"], int)
    native = await native_mailboxes(admin_api, alice_easy.token or "", body["domain"]["id"])
    assert [box["address"] for box in native] == ["username@alsoanotherexample.com"]


async def test_create_user_adds_an_email_account_to_the_domain(alice_easy: Easy, admin_api: Api) -> None:
    domain_id = (await create_domain(alice_easy))["domain"]["id"]
    response = await alice_easy.call(
        "POST", f"/user/{domain_id}", {"email": "bob@example.com", "password": "UNENCRYPTED-pass-42"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "result": True,
        "user": {"id": body["user"]["id"], "domain_id": domain_id, "email": "bob@example.com"},
    }
    native = await native_mailboxes(admin_api, alice_easy.token or "", domain_id)
    assert sorted(box["address"] for box in native) == ["admin@example.com", "bob@example.com"]


async def test_change_password_answers_result_true(alice_easy: Easy, runtime: Any) -> None:
    created = await create_domain(alice_easy)
    fields = {
        "id": str(created["user"]["id"]),
        "password": "NEW-unencrypted-pass-9",
        "domain_id": str(created["domain"]["id"]),
    }
    response = await alice_easy.call("POST", "/user-change-password", fields)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": True}


async def test_delete_domain_removes_it(alice_easy: Easy) -> None:
    await create_domain(alice_easy, "example.com")
    await create_domain(alice_easy, "other.example")
    response = await alice_easy.call("DELETE", "/domain", {"domain": "example.com"})
    assert response.status_code == 200, response.text
    assert response.json() == {"result": True}
    listed = (await alice_easy.call("GET", "/domains")).json()["domains"]
    assert [domain["name"] for domain in listed] == ["other.example"]


async def test_delete_user_removes_it(alice_easy: Easy) -> None:
    created = await create_domain(alice_easy, "example.com", "admin")
    domain_id = created["domain"]["id"]
    await alice_easy.call(
        "POST", f"/user/{domain_id}", {"email": "someemail@example.com", "password": MAILBOX_PASSWORD}
    )
    response = await alice_easy.call("DELETE", "/users", {"email": "someemail@example.com"})
    assert response.status_code == 200, response.text
    assert response.json() == {"result": True}
    users = (await alice_easy.call("GET", f"/users/{domain_id}")).json()["users"]
    assert [user["email"] for user in users] == ["admin@example.com"]


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded", "query"])
async def test_every_mail_operation_takes_its_parameters_in_any_of_the_three_encodings(
    alice_easy: Easy, encoding: Encoding
) -> None:
    created = await alice_easy.call(
        "POST",
        "/domains",
        {"domain": "example.com", "username": "admin", "password": MAILBOX_PASSWORD},
        encoding=encoding,
    )
    assert created.status_code == 200, created.text
    domain_id = created.json()["domain"]["id"]
    user = await alice_easy.call(
        "POST", f"/user/{domain_id}", {"email": "bob@example.com", "password": MAILBOX_PASSWORD}, encoding=encoding
    )
    assert user.status_code == 200, user.text
    change = {"id": str(user.json()["user"]["id"]), "password": "another-pass-77", "domain_id": str(domain_id)}
    assert (await alice_easy.call("POST", "/user-change-password", change, encoding=encoding)).json() == {
        "result": True
    }
    deleted = await alice_easy.call("DELETE", "/users", {"email": "bob@example.com"}, encoding=encoding)
    assert deleted.json() == {"result": True}
    assert (await alice_easy.call("GET", f"/users/{domain_id}")).json()["users"][0]["email"] == "admin@example.com"
    assert (await alice_easy.call("DELETE", "/domain", {"domain": "example.com"}, encoding=encoding)).json() == {
        "result": True
    }
    assert (await alice_easy.call("GET", "/domains")).json() == {"domains": []}


async def test_user_ids_and_counts_are_integers_and_emails_strings(alice_easy: Easy) -> None:
    await create_domain(alice_easy)
    [domain] = (await alice_easy.call("GET", "/domains")).json()["domains"]
    assert all(type(domain[key]) is int for key in ("id", "users_count")) and type(domain["name"]) is str
    [user] = (await alice_easy.call("GET", f"/users/{domain['id']}")).json()["users"]
    assert all(type(user[key]) is int for key in ("id", "domain_id")) and type(user["email"]) is str
