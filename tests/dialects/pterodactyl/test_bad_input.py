"""Bad input to Pterodactyl's client account API as an attacker would send it: Pterodactyl's error envelope with a
4xx, never a 500, and nothing changes. Its JSON bodies are parsed by FastAPI behind the edge, which refuses
nesting beyond hostplane.api.bodies.MAX_JSON_DEPTH before anything recurses into it."""

from __future__ import annotations

import pytest

from hostplane.runtime import Runtime
from tests.conftest import Account, Api, row_counts
from tests.dialects.pterodactyl.ptero import ACCOUNT, JSON, error_of, send, validation_errors

DEEP = {
    "deep-arrays": b"[" * 5000 + b"]" * 5000,
    "deep-objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "unclosed": b"[" * 100_000,
    "deep-inside-a-field": b'{"description": "ci", "allowed_ips": ' + b"[" * 40 + b"]" * 40 + b"}",
}


@pytest.mark.parametrize("case", sorted(DEEP))
@pytest.mark.parametrize(("method", "path"), [("PUT", "/email"), ("POST", "/api-keys"), ("POST", "/ssh-keys")])
async def test_deeply_nested_json_is_400_in_pterodactyl_shape_and_changes_nothing(
    user_api: Api, alice: Account, runtime: Runtime, case: str, method: str, path: str
) -> None:
    await user_api.login(alice)
    before = await row_counts(runtime)
    response = await user_api.request(method, ACCOUNT + path, headers=JSON, content=DEEP[case])
    assert "nested too deeply" in error_of(response, 400, "BadRequestHttpException")["detail"]
    assert await row_counts(runtime) == before
    assert (await send(user_api, "GET", "")).json()["attributes"]["email"] == alice.user.email


async def test_a_number_of_thousands_of_digits_is_a_4xx_and_changes_nothing(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    before = await row_counts(runtime)
    content = b'{"description": ' + b"9" * 5000 + b', "allowed_ips": []}'
    response = await user_api.request("POST", ACCOUNT + "/api-keys", headers=JSON, content=content)
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"errors"}
    assert await row_counts(runtime) == before


@pytest.mark.parametrize("page", ["9" * 16, str(2**63), "1" * 40])
async def test_a_huge_page_number_never_reaches_the_database(user_api: Api, alice: Account, page: str) -> None:
    await user_api.login(alice)
    response = await send(user_api, "GET", "/activity", params={"page": page})
    if len(page) > 16:
        assert [field for field, _rule, _detail in validation_errors(response)] == ["page"]
    else:
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("per_page", [str(2**63), "9" * 40])
async def test_a_huge_per_page_is_capped_or_refused(user_api: Api, alice: Account, per_page: str) -> None:
    await user_api.login(alice)
    response = await send(user_api, "GET", "/activity", params={"per_page": per_page})
    assert [field for field, _rule, _detail in validation_errors(response)] == ["per_page"]
