"""Two tenants for the tests of names and moves: alice and bob, each logged in on the user port from an address of
their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Account, Api

BOB_PEER = "203.0.113.8"


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("bob")
    return account


@pytest.fixture
async def as_alice(user_api: Api, alice: Account) -> Api:
    await user_api.login(alice)
    return user_api


@pytest.fixture
async def as_bob(user_api: Api, bob: Account) -> Api:
    api = user_api.from_peer(BOB_PEER)
    await api.login(bob)
    return api
