"""Fixtures of the Pterodactyl dialect's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import PEER, Account, Api

KeyedClient = Callable[..., Awaitable[tuple[Api, str]]]


@pytest.fixture
async def keyed(user_api: Api, alice: Account) -> AsyncIterator[KeyedClient]:
    """Makes a key of alice with the given native fields (scopes, allowed_ips, expires_at: what Pterodactyl's own
    requests cannot say) through her session, and returns a client that authenticates with it from PEER
    (203.0.113.7), and the key's identifier. `user_api` stays logged in as alice."""
    await user_api.login(alice)
    clients: list[Api] = []

    async def make(**fields: Any) -> tuple[Api, str]:
        response = await user_api.post("/api/v1/account/api-keys", json={"description": "caller", **fields})
        assert response.status_code == 201, response.text
        client = user_api.from_peer(PEER)
        client.token = response.json()["token"]
        clients.append(client)
        return client, str(response.json()["identifier"])

    yield make
    for client in clients:
        await client.aclose()
