"""Bad input to WHM API 1 as an attacker would send it: every refusal is WHM's envelope (HTTP 200, `result: 0`,
the reason naming the parameter), never its catch-all internal error, and nothing changes."""

from __future__ import annotations

import time

import pytest

from hostplane import validation
from hostplane.runtime import Runtime
from tests.conftest import Account, Api, row_counts
from tests.dialects.whm.whmapi import basic, call, envelope

CREATE = "api_token_create"


async def tokens(api: Api, admin: Account) -> dict[str, object]:
    listed = envelope(await call(api, "api_token_list", basic(admin)), "api_token_list")
    found: dict[str, object] = listed["data"]["tokens"]
    return found


@pytest.mark.parametrize(
    "bad",
    [
        "99999999999999",
        "999999999999",
        str(validation.MAX_UNIX_TIME),
        str(2**63),
        str(2**64),
        "9" * 5000,
        "-1",
        "1e12",
        "1.5",
        "",
        " ",
        "0x10",
    ],
)
async def test_an_expiry_out_of_range_or_not_a_unix_time_fails_naming_it_and_creates_no_token(
    admin_api: Api, admin: Account, runtime: Runtime, bad: str
) -> None:
    before = await row_counts(runtime)
    response = await call(admin_api, CREATE, basic(admin), token_name="ci", expires_at=bad)
    reason = envelope(response, CREATE, result=0)["metadata"]["reason"]
    assert "expires_at" in reason and "internal error" not in reason
    assert await row_counts(runtime) == before
    assert await tokens(admin_api, admin) == {}


async def test_an_update_with_an_expiry_out_of_range_leaves_the_token_as_it_was(
    admin_api: Api, admin: Account, runtime: Runtime
) -> None:
    later = int(time.time()) + 3600
    envelope(await call(admin_api, CREATE, basic(admin), token_name="ci", expires_at=str(later)), CREATE)
    before, listed = await row_counts(runtime), await tokens(admin_api, admin)
    for bad in ("99999999999999", str(validation.MAX_UNIX_TIME)):
        response = await call(admin_api, "api_token_update", basic(admin), token_name="ci", expires_at=bad)
        assert "expires_at" in envelope(response, "api_token_update", result=0)["metadata"]["reason"]
    assert await row_counts(runtime) == before
    assert await tokens(admin_api, admin) == listed


async def test_the_last_unix_time_before_the_year_9000_is_taken(admin_api: Api, admin: Account) -> None:
    last = validation.MAX_UNIX_TIME - 1
    created = await call(admin_api, CREATE, basic(admin), token_name="ci", expires_at=str(last))
    assert envelope(created, CREATE)["data"]["expires_at"] == last


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/json", b'{"token_name": "ci"}'),
        ("application/json", b"[" * 5000 + b"]" * 5000),
        ("text/plain", b"token_name=ci"),
        ("application/x-www-form-urlencoded", b"token_name=%ff"),
        ("application/x-www-form-urlencoded", b"token_name=a&token_name=b&" + b"&".join([b"x=1"] * 300)),
    ],
    ids=["json", "deep-json", "text", "bad-utf8", "too-many"],
)
async def test_a_body_whm_cannot_read_fails_in_the_envelope_and_creates_nothing(
    admin_api: Api, admin: Account, runtime: Runtime, content_type: str, content: bytes
) -> None:
    before = await row_counts(runtime)
    response = await admin_api.post(
        f"/json-api/{CREATE}?api.version=1", headers={**basic(admin), "Content-Type": content_type}, content=content
    )
    envelope(response, CREATE, result=0)
    assert await row_counts(runtime) == before


@pytest.mark.parametrize("bad", ["xn--zz.com", "panel.xn--zz.example", "x" * 300, "1.2.3.4", "evil.example\r\nX: y"])
async def test_a_preferred_domain_outside_the_domain_grammar_fails_and_issues_no_session(
    admin_api: Api, admin: Account, alice: Account, runtime: Runtime, bad: str
) -> None:
    before = await row_counts(runtime)
    response = await call(
        admin_api, "create_user_session", basic(admin), user="alice", service="cpaneld", preferred_domain=bad
    )
    envelope(response, "create_user_session", result=0)
    assert await row_counts(runtime) == before


@pytest.mark.parametrize("prefix", ["", "/cpsess0123456789"])
async def test_a_body_over_the_limit_is_refused_in_the_envelope(
    admin_api: Api, admin: Account, runtime: Runtime, prefix: str
) -> None:
    before = await row_counts(runtime)
    response = await admin_api.post(
        f"{prefix}/json-api/{CREATE}?api.version=1",
        headers=basic(admin),
        data={"token_name": "ci", "pad": "x" * runtime.settings.max_body_bytes},
    )
    assert response.status_code == 413, response.text
    assert response.json()["metadata"] == {
        "command": CREATE,
        "reason": f"Request bodies are limited to {runtime.settings.max_body_bytes} bytes.",
        "result": 0,
        "version": 1,
    }
    assert await row_counts(runtime) == before


async def test_a_method_the_path_does_not_take_is_refused_in_the_envelope(admin_api: Api, admin: Account) -> None:
    response = await admin_api.request("PUT", f"/json-api/{CREATE}?api.version=1", headers=basic(admin))
    assert response.status_code == 405, response.text
    assert response.json()["metadata"]["result"] == 0
    assert response.json()["metadata"]["command"] == CREATE
