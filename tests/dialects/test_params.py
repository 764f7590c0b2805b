"""The one parameter reader every dialect uses (hostplane.dialects.params), on a bare app: what it takes, what it
refuses and as which core error (each dialect maps those to its own shape; its own tests check the shape)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hostplane import validation
from hostplane.dialects import params
from hostplane.dialects.params import Params, Reading, identifier, read_params
from hostplane.errors import HostplaneError, InvalidInput, NotFound

MAX_BODY = 64 * 1024
FORM = Reading(max_fields=8, max_value_chars=64, multiline=frozenset({"pem"}), files=True)
LISTS = Reading(max_fields=8, repeats=True)
JSON_ONLY = Reading(bodies=frozenset({params.JSON}), query=False, max_fields=4)


def reader_app() -> FastAPI:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(settings=SimpleNamespace(max_body_bytes=MAX_BODY))
    readings = {"form": FORM, "lists": LISTS, "json": JSON_ONLY}

    @app.api_route("/{kind}", methods=["GET", "POST", "DELETE"])
    async def read(request: Request, kind: str) -> JSONResponse:
        try:
            given = await read_params(request, readings[kind])
        except HostplaneError as exc:
            field = exc.fields[0].field if exc.fields else None
            return JSONResponse({"code": exc.code, "field": field, "detail": exc.detail}, status_code=exc.status)
        return JSONResponse({"pairs": given.pairs})

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=reader_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def refused(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    if field is not None:
        assert body["field"] == field, body
    return body


# --- what is read ------------------------------------------------------------------------------------------------


async def test_query_urlencoded_multipart_and_files_are_read_in_order(client: httpx.AsyncClient) -> None:
    urlencoded = await client.post("/form?a=1", data={"b": "2"})
    assert urlencoded.json() == {"pairs": [["a", "1"], ["b", "2"]]}
    multipart = await client.post("/form", files={"c": (None, "3"), "pem": ("x.pem", b"-----BEGIN X-----\r\n")})
    assert multipart.json() == {"pairs": [["c", "3"], ["pem", "-----BEGIN X-----\r\n"]]}
    assert (await client.delete("/form", params={"d": "4"})).json() == {"pairs": [["d", "4"]]}


async def test_a_json_object_of_strings_is_read_and_nulls_are_absent(client: httpx.AsyncClient) -> None:
    response = await client.post("/json", json={"username": "alice", "twofa_code": None})
    assert response.json() == {"pairs": [["username", "alice"]]}


# --- what is refused ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\r", "\n", "\x00", "\t", "\x1b", "\x7f", "\x85"])
async def test_control_characters_in_a_value_or_a_name_are_refused(client: httpx.AsyncClient, char: str) -> None:
    refused(await client.post("/form", data={"user": f"al{char}ice"}), 422, "invalid_input", "user")
    refused(await client.get("/form", params={"user": f"al{char}ice"}), 422, "invalid_input", "user")
    refused(await client.post("/json", json={"username": f"al{char}ice"}), 422, "invalid_input", "username")
    refused(await client.post("/form", data={f"us{char}er": "alice"}), 422, "invalid_input", "(parameter)")


async def test_multiline_fields_take_line_breaks_but_no_other_control_character(client: httpx.AsyncClient) -> None:
    assert (await client.post("/form", data={"pem": "a\r\nb\tc" + "x" * 500})).status_code == 200
    refused(await client.post("/form", data={"pem": "a\x00b"}), 422, "invalid_input", "pem")


async def test_a_value_over_its_length_is_refused(client: httpx.AsyncClient) -> None:
    refused(await client.post("/form", data={"user": "x" * 65}), 422, "invalid_input", "user")
    refused(await client.post("/form", data={"x" * 65: "1"}), 400, "unreadable_body")


async def test_a_name_given_twice_is_refused_unless_the_dialect_takes_lists(client: httpx.AsyncClient) -> None:
    refused(await client.post("/form?user=evil", data={"user": "alice"}), 422, "invalid_input", "user")
    refused(await client.get("/form?user=a&user=b"), 422, "invalid_input", "user")
    assert (await client.get("/lists?acl=a&acl=b")).json() == {"pairs": [["acl", "a"], ["acl", "b"]]}


@pytest.mark.parametrize("where", ["query", "body", "both"])
async def test_too_many_parameters_are_refused(client: httpx.AsyncClient, where: str) -> None:
    query = "&".join(f"q{i}=1" for i in range(9 if where == "query" else 5))
    body = {f"b{i}": "1" for i in range(9 if where == "body" else 5)}
    url = "/form" if where == "body" else f"/form?{query}"
    refused(await client.post(url, data={} if where == "query" else body), 400, "unreadable_body")


@pytest.mark.parametrize(
    ("path", "content_type", "content"),
    [
        ("/form", "application/json", b'{"user": "alice"}'),
        ("/form", "text/plain", b"user=alice"),
        ("/form", None, b"user=alice"),
        ("/json", "application/x-www-form-urlencoded", b"username=alice"),
        ("/json", "text/json", b'{"username": "alice"}'),
    ],
)
async def test_a_body_in_an_encoding_the_dialect_does_not_take_is_415(
    client: httpx.AsyncClient, path: str, content_type: str | None, content: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    refused(await client.post(path, content=content, headers=headers), 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("path", "request_args"),
    [
        ("/form", {"content": b"user=%ff%fe", "headers": {"Content-Type": params.URLENCODED}}),
        ("/form", {"content": b"user=\xff\xfe", "headers": {"Content-Type": params.URLENCODED}}),
        ("/form?user=%ff", {}),
        ("/form", {"content": b"--xyz\r\nContent-Disposition: form", "headers": {"Content-Type": params.MULTIPART}}),
        ("/form", {"files": {"pem": ("x.pem", b"\xff\xfe")}}),
        ("/json", {"content": b"{not json", "headers": {"Content-Type": params.JSON}}),
        ("/json", {"json": ["alice"]}),
        ("/json", {"json": "alice"}),
        ("/json", {"content": b"[" * 5000 + b"]" * 5000, "headers": {"Content-Type": params.JSON}}),
        ("/json", {"content": b'{"a":' * 5000 + b"1" + b"}" * 5000, "headers": {"Content-Type": params.JSON}}),
        ("/json", {"content": b'{"username": ' + b"9" * 5000 + b"}", "headers": {"Content-Type": params.JSON}}),
    ],
    ids=[
        "bad-percent-utf8",
        "raw-non-utf8",
        "bad-query-utf8",
        "broken-multipart",
        "non-utf8-file",
        "garbage-json",
        "json-array",
        "json-string",
        "deep-arrays",
        "deep-objects",
        "huge-number",
    ],
)
async def test_an_unreadable_body_or_query_is_400(
    client: httpx.AsyncClient, path: str, request_args: dict[str, Any]
) -> None:
    refused(await client.post(path, **request_args), 400, "unreadable_body")


async def test_a_json_value_that_is_not_a_string_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    for value in (5, True, 1.5, ["a"], {"a": "b"}):
        refused(await client.post("/json", json={"username": value}), 422, "invalid_input", "username")


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    refused(await client.post("/form", data={"pem": "x" * MAX_BODY}), 413, "payload_too_large")


# --- typed reads ---------------------------------------------------------------------------------------------------


def given(**values: str) -> Params:
    return Params(list(values.items()))


@pytest.mark.parametrize("value", ["0", str(2**31), str(2**63), str(2**64), "9" * 40])
def test_an_id_no_row_can_have_is_not_found_where_the_dialect_says_so(value: str) -> None:
    with pytest.raises(NotFound, match="No such user"):
        given(id=value).identifier("id", not_found="No such user.")
    with pytest.raises(InvalidInput) as error:
        given(id=value).identifier("id")
    assert error.value.fields[0].field == "id"


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "1e3", " ", "0x1f", "١٢"])
def test_an_id_that_is_not_a_number_is_invalid_input(value: str) -> None:
    with pytest.raises(InvalidInput) as error:
        identifier(value, "domain_id", not_found="No such mail domain.")
    assert error.value.fields[0].rule in ("integer", "required")


def test_ids_integers_booleans_and_times_within_bounds_are_read() -> None:
    params_ = given(id=str(validation.MAX_ID), n="12", flag="Yes", off="0", at="1893456000")
    assert params_.identifier("id") == validation.MAX_ID
    assert params_.integer("n", minimum=1, maximum=20) == 12
    assert params_.integer("missing") is None
    assert params_.boolean("flag") is True
    assert params_.boolean("off", default=True) is False
    assert params_.boolean("missing", default=True) is True
    assert params_.unix_time("at") == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert params_.unix_time("missing") is None


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("n", "21", lambda p: p.integer("n", minimum=1, maximum=20)),
        ("n", "99999999999999999999999", lambda p: p.integer("n")),
        ("flag", "maybe", lambda p: p.boolean("flag")),
        ("at", "99999999999999", lambda p: p.unix_time("at")),
        ("at", "", lambda p: p.unix_time("at")),
        ("at", "-5", lambda p: p.unix_time("at")),
        ("user", " ", lambda p: p.required("user")),
        ("user", "x" * 11, lambda p: p.optional("user", max_chars=10)),
        ("admin", "1", lambda p: p.only(["user"])),
    ],
)
def test_values_out_of_bounds_are_refused_naming_the_parameter(name: str, value: str, read: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        read(given(**{name: value}))
    assert error.value.fields[0].field == name


def test_lists_come_plain_then_numbered_in_index_order() -> None:
    params_ = Params([("acl-2", "c"), ("acl", "a"), ("acl-0", "b"), ("whitelist-ip-1", "y"), ("whitelist_ip-0", "x")])
    assert params_.many("acl") == ["a", "b", "c"]
    assert params_.many("whitelist_ip", "whitelist-ip") == ["x", "y"]
    assert params_.has("acl") and not params_.has("user")
