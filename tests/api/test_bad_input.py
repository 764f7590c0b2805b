"""Bad input that used to get a 500 from the native API, sent as an attacker would send it: every id, count and
date is bounded at the edge (hostplane.api.types), the nesting of every JSON body too (hostplane.api.bodies), and
the answer is a 4xx problem naming the field, with nothing changed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hostplane import validation
from hostplane.app import create_app
from hostplane.runtime import Runtime
from tests.api.test_route_security import assert_problem
from tests.conftest import Account, Api, row_counts

BAD_IDS = ["0", "-1", str(2**31), str(2**63 - 1), str(2**63), str(2**64), "9" * 40, "9" * 5000]
KEYS = "/api/v1/account/api-keys"
MAILBOX_PASSWORD = "correct-horse-mailbox-7"


def field_errors(response: httpx.Response) -> dict[str, str]:
    """field -> rule of a 422 invalid_input problem."""
    problem = assert_problem(response, 422)
    assert problem["code"] == "invalid_input"
    return {error["field"]: error["rule"] for error in problem["errors"]}


def integer_path_parameters(app: FastAPI) -> list[tuple[str, str, set[str]]]:
    """(method, path template, names of its integer path parameters) of every native route that has some."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            names = {
                parameter["name"]
                for parameter in operation.get("parameters", [])
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer"
            }
            if names and path.startswith("/api/v1/"):
                found.append((method.upper(), path, names))
    return found


def nested_list(depth: int) -> Any:
    value: Any = "10.0.0.1"
    for _ in range(depth):
        value = [value]
    return value


# --- ids and counts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_an_id_out_of_range_in_any_native_path_is_422_naming_it_and_changes_nothing(
    admin_api: Api, admin: Account, runtime: Runtime, bad: str
) -> None:
    """Every route with an id in its path, on the admin port (which serves the user routes too), as an admin."""
    await admin_api.login(admin)
    before = await row_counts(runtime)
    checked = 0
    for method, template, names in integer_path_parameters(admin_api.app):
        url = template
        for name in names:
            url = url.replace(f"{{{name}}}", bad)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        errors = field_errors(await admin_api.request(method, url, json=body))
        assert set(names) <= set(errors), (method, template, errors)
        checked += 1
    assert checked >= 25
    assert await row_counts(runtime) == before


async def test_the_largest_id_is_accepted_and_names_no_row_on_any_native_path(
    admin_api: Api, admin: Account, runtime: Runtime
) -> None:
    """The bound is what the database holds: the largest id reaches it and is "not found", never an error."""
    await admin_api.login(admin)
    before = await row_counts(runtime)
    for method, template, names in integer_path_parameters(admin_api.app):
        url = template
        for name in names:
            url = url.replace(f"{{{name}}}", str(validation.MAX_ID))
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = await admin_api.request(method, url, json=body)
        assert response.status_code in (404, 422), (method, url, response.text)
        if response.status_code == 422:  # the empty body, never the id
            assert not set(names) & set(field_errors(response)), (method, url, response.text)
    assert await row_counts(runtime) == before


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_an_id_out_of_range_in_a_query_is_422_naming_it(
    admin_api: Api, admin: Account, runtime: Runtime, bad: str
) -> None:
    await admin_api.login(admin)
    before = await row_counts(runtime)
    assert set(field_errors(await admin_api.get("/api/v1/admin/activity", params={"user_id": bad}))) == {"user_id"}
    assert await row_counts(runtime) == before


@pytest.mark.parametrize("bad", [0, -1, 2**31, 2**63, 2**64, 10**40, "1", 1.5, True])
async def test_a_plan_id_out_of_range_in_a_body_is_422_and_leaves_the_plan_as_it_was(
    admin_api: Api, admin: Account, alice: Account, runtime: Runtime, bad: object
) -> None:
    await admin_api.login(admin)
    usage = f"/api/v1/admin/users/{alice.user.id}/usage"
    before, plan = await row_counts(runtime), (await admin_api.get(usage)).json()
    response = await admin_api.put(f"/api/v1/admin/users/{alice.user.id}/plan", json={"plan_id": bad})
    assert "plan_id" in field_errors(response)
    assert await row_counts(runtime) == before
    assert (await admin_api.get(usage)).json() == plan


@pytest.mark.parametrize("bad", [-1, validation.MAX_INT + 1, 2**63, 2**64, 10**40])
async def test_a_quota_out_of_range_is_422_and_creates_no_mailbox(
    user_api: Api, alice: Account, runtime: Runtime, bad: int
) -> None:
    await user_api.login(alice)
    domain = await user_api.post("/api/v1/mail/domains", json={"name": "example.com"})
    before = await row_counts(runtime)
    response = await user_api.post(
        f"/api/v1/mail/domains/{domain.json()['id']}/mailboxes",
        json={"local_part": "bob", "password": MAILBOX_PASSWORD, "quota_mb": bad},
    )
    assert set(field_errors(response)) == {"quota_mb"}
    assert await row_counts(runtime) == before


def test_every_integer_input_of_the_native_api_is_bounded(runtime: Runtime) -> None:
    """Paths, queries and bodies of both ports, from the OpenAPI document: an integer without a bound would reach
    the database with any value a client likes (and come back as a 500)."""
    found = 0
    for role in ("user", "admin"):
        document = create_app(runtime, role).openapi()  # type: ignore[arg-type]

        def walk(
            schema: dict[str, Any], where: str, seen: frozenset[str] = frozenset(), document: Any = document
        ) -> None:
            nonlocal found
            if "$ref" in schema:
                name = schema["$ref"].rsplit("/", 1)[-1]
                if name not in seen:
                    walk(document["components"]["schemas"][name], f"{where}/{name}", seen | {name})
                return
            for key in ("anyOf", "oneOf", "allOf"):
                for option in schema.get(key, []):
                    walk(option, where, seen)
            if schema.get("type") == "integer":
                found += 1
                assert schema.get("maximum", float("inf")) <= validation.MAX_INT, where
                assert schema.get("minimum", -float("inf")) >= -validation.MAX_INT, where
            for name, value in schema.get("properties", {}).items():
                walk(value, f"{where}.{name}", seen)
            if "items" in schema:
                walk(schema["items"], f"{where}[]", seen)

        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                for parameter in operation.get("parameters", []):
                    walk(parameter["schema"], f"{method} {path} {parameter['in']} {parameter['name']}")
                for media in operation.get("requestBody", {}).get("content", {}).values():
                    walk(media["schema"], f"{method} {path} body")
    assert found >= 40


# --- dates ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59Z",
        "9000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "2030-01-01T00:00:00",
        "2030-01-01T00:00:00+25:00",
        "+99999-01-01T00:00:00Z",
        9999999999999999,
        253402300799000,
    ],
)
async def test_an_api_key_expiry_that_overflows_or_is_too_far_is_422_and_creates_no_key(
    user_api: Api, alice: Account, runtime: Runtime, bad: object
) -> None:
    await user_api.login(alice)
    before = await row_counts(runtime)
    response = await user_api.post(KEYS, json={"description": "ci", "expires_at": bad})
    assert set(field_errors(response)) == {"expires_at"}
    assert await row_counts(runtime) == before
    assert (await user_api.get(KEYS)).json() == []


async def test_an_api_key_expiry_far_ahead_with_a_zone_is_kept_in_utc(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"description": "ci", "expires_at": "8999-12-31T23:00:00-00:30"})
    assert response.status_code == 201, response.text
    assert response.json()["expires_at"].startswith("8999-12-31T23:30:00")


# --- JSON nesting ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
async def test_deeply_nested_json_is_400_before_any_parser_recurses_and_changes_nothing(
    user_api: Api, alice: Account, runtime: Runtime, depth: int
) -> None:
    await user_api.login(alice)
    before = await row_counts(runtime)
    bodies = [b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth, b"[" * depth]
    for path in ("/api/v1/auth/login", KEYS, "/api/v1/mail/domains", "/api/client/account/email"):
        for content in bodies:
            if len(content) > runtime.settings.max_body_bytes:
                content = content[: runtime.settings.max_body_bytes]
            method = "PUT" if path.endswith("/email") else "POST"
            response = await user_api.request(
                method, path, content=content, headers={"Content-Type": "application/json"}
            )
            if path.startswith("/api/client/"):  # Pterodactyl's own shape, checked in its tests
                assert response.status_code == 400, response.text
                continue
            assert assert_problem(response, 400)["code"] == "unreadable_body"
    assert await row_counts(runtime) == before


async def test_nesting_inside_a_field_counts_too(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    before = await row_counts(runtime)
    response = await user_api.post(KEYS, json={"description": "ci", "allowed_ips": nested_list(40)})
    assert assert_problem(response, 400)["code"] == "unreadable_body"
    assert await row_counts(runtime) == before
    shallow = await user_api.post(KEYS, json={"description": "ci", "allowed_ips": nested_list(1)})
    assert shallow.status_code == 201, shallow.text


async def test_a_number_of_thousands_of_digits_is_a_4xx(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    before = await row_counts(runtime)
    content = b'{"local_part": "bob", "password": "correct-horse-mailbox-7", "quota_mb": ' + b"9" * 5000 + b"}"
    response = await user_api.post(
        "/api/v1/mail/domains/1/mailboxes", content=content, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)
    assert await row_counts(runtime) == before


# --- one grammar for every domain name -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["xn--zz.com", "shop.xn--zz.example", "xn--a.de", "x" * 250 + ".com"])
async def test_a_name_refused_for_a_website_is_refused_for_mail_and_subdomains_too(
    user_api: Api, alice: Account, runtime: Runtime, bad: str
) -> None:
    await user_api.login(alice)
    parent = await user_api.post("/api/v1/domains", json={"name": "example.com"})
    assert parent.status_code == 201, parent.text
    before = await row_counts(runtime)
    assert set(field_errors(await user_api.post("/api/v1/domains", json={"name": bad}))) == {"name"}
    assert set(field_errors(await user_api.post("/api/v1/mail/domains", json={"name": bad}))) == {"name"}
    prefix = bad.rsplit(".", 1)[0]
    subdomain = await user_api.post(f"/api/v1/domains/{parent.json()['id']}/subdomains", json={"name": prefix})
    assert set(field_errors(subdomain)) == {"name"}
    assert await row_counts(runtime) == before
