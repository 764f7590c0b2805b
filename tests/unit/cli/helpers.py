"""Running `hostplane` in-process against the state folder of the environment (see conftest.py), and reading the
result back through the admin port's API of a runtime built from the same settings."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from hostplane.app import create_app
from hostplane.cli import app
from hostplane.runtime import build_runtime
from hostplane.settings import load_settings
from tests.conftest import PEER

runner = CliRunner()


def hostplane(*args: str) -> Result:
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    """The output with line wrapping undone, so messages can be matched whole."""
    return " ".join(text.split())


def init() -> str:
    """Run `hostplane init` on a fresh state folder and return the admin password it printed."""
    result = hostplane("init")
    assert result.exit_code == 0, result.output
    match = re.search(r"password: (\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


async def _call(method: str, path: str, *, token: str | None = None, json: Any = None) -> httpx.Response:
    runtime = build_runtime(load_settings())
    try:
        transport = httpx.ASGITransport(app=create_app(runtime, "admin"), client=(PEER, 40000))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, headers=headers, json=json)
    finally:
        await runtime.close()


def call(method: str, path: str, *, token: str | None = None, json: Any = None) -> httpx.Response:
    """One request to the admin port's app on a runtime built from the environment's settings."""
    return asyncio.run(_call(method, path, token=token, json=json))


def login(username: str, password: str) -> httpx.Response:
    return call("POST", "/api/v1/auth/login", json={"username": username, "password": password})


def token_of(username: str, password: str) -> str:
    response = login(username, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def usernames() -> list[str]:
    result = hostplane("user", "list")
    assert result.exit_code == 0, result.output
    return re.findall(r"│\s*\d+\s*│\s*(\S+)\s*│", result.stdout)
