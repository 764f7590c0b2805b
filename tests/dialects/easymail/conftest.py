"""Fixtures of the EasySuperSecureEmail dialect tests: a client on the admin port, logged in as alice."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hostplane.settings import Settings
from tests.conftest import Account, Api
from tests.dialects.easymail.easy import Easy

MAILBOX_PASSWORD = "correct-horse-mailbox-7"


UNREACHABLE_CA = "https://127.0.0.1:9/directory"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """No test here ever talks to a real certificate authority: ACME orders go to a closed loopback port."""
    return settings_factory(acme_directory_url=UNREACHABLE_CA)


@pytest.fixture
async def easy(admin_api: Api) -> Easy:
    return Easy(admin_api)


@pytest.fixture
async def alice_easy(easy: Easy, alice: Account) -> Easy:
    await easy.auth(alice)
    return easy
