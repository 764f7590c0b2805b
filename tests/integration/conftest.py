"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.nginx_fixture import served_folders


@pytest.fixture
def nginx_served() -> Iterator[dict[str, Path]]:
    """Settings for the folders a test's nginx serves (docroots, ACME webroot), outside pytest's temporary root:
    pass them to `settings_factory` in every test that runs nginx (`running_nginx` refuses the default ones)."""
    with served_folders() as overrides:
        yield overrides
