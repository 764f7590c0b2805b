"""Every example of the WHM API 1 reference (../shared/reference/whm-api1-twofactorauth.txt), sent as its curl lines
write it: `GET /json-api/<function>` with `-u <username>:<password>` (HTTP Basic), curl's own `Accept: */*` and
`User-Agent`, the query string of the example and NO `api.version` parameter, answered in the documented API 1
envelope (`metadata.version: 1`) with the documented `data`.

Only the host (the mock server or https://whm-server.tld:2087 becomes the in-process admin port), the credentials
(an administrator of the test database) and the account name are substituted.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Account, Api

BASE32 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
METADATA_KEYS = {"command", "reason", "result", "version"}


def curl_u(account: Account) -> dict[str, str]:
    """The headers `curl -i -X GET -u <username>:<password> URL` sends (besides Host)."""
    credentials = base64.b64encode(f"{account.username}:{account.password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}", "User-Agent": "curl/8.14.1", "Accept": "*/*"}


async def replay(api: Api, account: Account, path_and_query: str) -> httpx.Response:
    """The example's request, path and query string verbatim."""
    response = await api.http.request("GET", path_and_query, headers=curl_u(account))
    assert response.request.method == "GET"
    assert response.request.url.raw_path.decode() == path_and_query
    assert b"api.version" not in response.request.url.query
    return response


def documented_envelope(response: httpx.Response, command: str) -> dict[str, Any]:
    """The reference's answer: HTTP 200, JSON `{data, metadata: {command, reason: "OK", result: 1, version: 1}}`."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"data", "metadata"}, body
    assert set(body["metadata"]) == METADATA_KEYS
    assert body["metadata"] == {"command": command, "reason": "OK", "result": 1, "version": 1}
    assert isinstance(body["data"], dict)
    return body


async def test_twofactorauth_generate_tfa_config(admin_api: Api, admin: Account) -> None:
    """curl -i -X GET \\
    -u <username>:<password> \\
    https://api.docs.cpanel.net/_mock/specifications/whm.openapi/twofactorauth_generate_tfa_config

    (on a server running WHM: https://whm-server.tld:2087/json-api/twofactorauth_generate_tfa_config)
    """
    response = await replay(admin_api, admin, "/json-api/twofactorauth_generate_tfa_config")
    data = documented_envelope(response, "twofactorauth_generate_tfa_config")["data"]
    assert set(data) == {"otpauth_str", "secret"}
    assert isinstance(data["otpauth_str"], str) and isinstance(data["secret"], str)
    assert set(data["secret"]) <= BASE32
    assert len(base64.b32decode(data["secret"])) == 20
    uri = urllib.parse.urlsplit(data["otpauth_str"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    issuer, _, account = urllib.parse.unquote(uri.path.removeprefix("/")).partition(":")
    assert (issuer, account) == ("Hostplane", "root")
    query = urllib.parse.parse_qs(uri.query)
    assert query["secret"] == [data["secret"]]
    assert query["issuer"] == [issuer]


async def test_twofactorauth_get_issuer(admin_api: Api, admin: Account) -> None:
    """curl -i -X GET \\
    -u <username>:<password> \\
    https://api.docs.cpanel.net/_mock/specifications/whm.openapi/twofactorauth_get_issuer

    (on a server running WHM: https://whm-server.tld:2087/json-api/twofactorauth_get_issuer)
    """
    response = await replay(admin_api, admin, "/json-api/twofactorauth_get_issuer")
    data = documented_envelope(response, "twofactorauth_get_issuer")["data"]
    assert set(data) == {"issuer", "system_wide_issuer"}
    assert all(isinstance(value, str) and value for value in data.values())
    assert data == {"issuer": "Hostplane", "system_wide_issuer": "Hostplane"}


async def test_twofactorauth_get_tfa_config_for_user(
    admin_api: Api, admin: Account, make_account: Callable[..., Any]
) -> None:
    """curl -i -X GET \\
    -u <username>:<password> \\
    'https://api.docs.cpanel.net/_mock/specifications/whm.openapi/twofactorauth_get_tfa_config_for_user?user=example'

    (on a server running WHM: https://whm-server.tld:2087/json-api/twofactorauth_get_tfa_config_for_user)
    """
    await make_account("example")
    response = await replay(admin_api, admin, "/json-api/twofactorauth_get_tfa_config_for_user?user=example")
    data = documented_envelope(response, "twofactorauth_get_tfa_config_for_user")["data"]
    assert set(data) == {"example"}
    assert isinstance(data["example"], dict)
    assert data == {"example": {"email": {}, "team": {}}}


async def test_an_example_with_wrong_credentials_gets_whms_access_denied(admin_api: Api, admin: Account) -> None:
    """curl -i -X GET \\
    -u <username>:<password> \\
    https://api.docs.cpanel.net/_mock/specifications/whm.openapi/twofactorauth_get_issuer

    with a password that is not the account's: WHM's 403 and `cpanelresult` "Access denied", not the envelope.
    """
    wrong = Account(user=admin.user, password="not-the-password")
    response = await replay(admin_api, wrong, "/json-api/twofactorauth_get_issuer")
    assert response.status_code == 403
    assert response.json()["cpanelresult"]["error"] == "Access denied"
