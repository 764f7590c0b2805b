"""A client that talks to the EasySuperSecureEmail dialect the way the reference's curl examples do."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from tests.conftest import Account, Api

PREFIX = "/easymail"
Encoding = Literal["multipart", "urlencoded", "query"]
NO_CACHE = {"Cache-Control": "no-cache"}


class Easy:
    """`curl -X METHOD -H "Auth-token: TOKEN" -H "Cache-Control: no-cache" -F name=value "API_URL/path"`: fields go
    as multipart/form-data (what -F sends) on every method, unless another encoding is asked for."""

    def __init__(self, api: Api, prefix: str = PREFIX) -> None:
        self.api = api
        self.prefix = prefix
        self.token: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        fields: dict[str, str] | None = None,
        *,
        encoding: Encoding = "multipart",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {**NO_CACHE, **(headers or {})}
        bearer = token if token is not None else self.token
        if bearer is not None:
            sent["Auth-token"] = bearer
        if fields and encoding == "multipart":
            kwargs["files"] = {name: (None, value) for name, value in fields.items()}
        elif fields and encoding == "urlencoded":
            kwargs["data"] = fields
        elif fields:
            kwargs["params"] = fields
        return await self.api.http.request(method, self.prefix + path, headers=sent, **kwargs)

    async def auth(self, account: Account, **extra: str) -> str:
        response = await self.call(
            "POST", "/auth", {"username": account.username, "password": account.password, **extra}
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["token"]
        return self.token


def assert_failure(response: httpx.Response, status: int) -> str:
    """The dialect's failure shape, `{"result": false, "msg": "..."}`, with the status, and no trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"result", "msg"}, body
    assert body["result"] is False
    assert isinstance(body["msg"], str) and body["msg"]
    assert "Traceback" not in response.text
    msg: str = body["msg"]
    return msg
