"""Where the dialect lives: on the admin port only, under `easymail_prefix` (default /easymail), outside the
JSON-only rule of /api/v1 and /api/client, with the edge's security headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from hostplane.app import PUBLIC_ROUTES, create_app
from hostplane.dialects.easymail import DEFAULT_PREFIX
from hostplane.runtime import build_runtime
from hostplane.settings import Settings
from tests.conftest import PASSWORD, Account, Api
from tests.dialects.easymail.easy import Easy, Encoding


def test_the_default_prefix_is_easymail_and_its_auth_is_the_public_route() -> None:
    assert DEFAULT_PREFIX == "/easymail"
    assert Settings.model_fields["easymail_prefix"].default == DEFAULT_PREFIX
    assert ("POST", "/easymail/auth") in PUBLIC_ROUTES


async def test_the_prefix_is_configurable(settings_factory: Callable[..., Settings], alice: Account) -> None:
    runtime = build_runtime(settings_factory(easymail_prefix="/mail/api"))
    api = Api(create_app(runtime, "admin"))
    try:
        moved = Easy(api, prefix="/mail/api")
        await moved.auth(alice)
        assert (await moved.call("GET", "/domains")).json() == {"domains": []}
        old = await Easy(api).call("POST", "/auth", {"username": "alice", "password": PASSWORD})
        assert old.status_code == 404
    finally:
        await api.aclose()
        await runtime.close()


async def test_the_dialect_is_not_served_on_the_user_port(user_api: Api, alice: Account) -> None:
    response = await Easy(user_api).call("POST", "/auth", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded", "query"])
async def test_form_bodies_pass_the_edge_under_the_prefix(easy: Easy, alice: Account, encoding: Encoding) -> None:
    response = await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD}, encoding=encoding)
    assert response.status_code == 200, response.text


async def test_answers_carry_the_security_headers(easy: Easy, alice: Account) -> None:
    for response in (
        await easy.call("POST", "/auth", {"username": "alice", "password": PASSWORD}),
        await easy.call("GET", "/domains"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "prefix",
    ["/api/v1", "/api/v1/mail", "/api", "/api/client", "/json-api", "/", "", "easymail", "/easymail/", "/a/../b", "/A"],
)
def test_a_prefix_overlapping_other_apis_or_malformed_is_refused(
    settings_factory: Callable[..., Settings], prefix: str
) -> None:
    with pytest.raises(ValidationError):
        settings_factory(easymail_prefix=prefix)
