"""The system users' contract (SystemUsers), kept by real Linux accounts (LinuxSystemUsers: useradd, userdel and
authorized_keys through O_NOFOLLOW descriptors; tests/integration/ssh logs in with the keys) and by
RecordingSystemUsers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hostplane.system.fake import RecordingSystemUsers
from hostplane.system.ssh import AUTHORIZED_KEYS, LinuxSystemUsers, SystemUserError, SystemUsers
from tests.conformance.conftest import IMPLEMENTATIONS
from tests.integration.linux_accounts import scratch_home_root, unique_panel_username


@dataclass
class Harness:
    users: SystemUsers
    username: str
    """A panel name no account exists for yet."""
    keys_of: Callable[[str], list[str] | None]
    """The lines of the account's authorized_keys, None when there is no such file."""


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "fake":
        fake = RecordingSystemUsers()
        yield Harness(fake, "carol", fake.keys.get)
        return
    with scratch_home_root() as home_root, unique_panel_username("c") as username:
        real = LinuxSystemUsers(home_root)

        def keys_of(name: str) -> list[str] | None:
            path = real.home_of(name) / ".ssh" / AUTHORIZED_KEYS
            return path.read_text().splitlines() if path.is_file() else None

        yield Harness(real, username, keys_of)


def public_key(comment: str = "") -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    text = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{text} {comment}".strip()


def bare(key: str) -> str:
    return " ".join(key.split()[:2])


async def test_an_account_is_made_once_with_its_home_and_ids(harness: Harness) -> None:
    users, name = harness.users, harness.username
    assert await users.account_ids(name) is None  # asking never creates one
    home = await users.ensure_user(name)
    assert home == users.home_of(name)
    ids = await users.account_ids(name)
    assert ids is not None and ids[0] > 0
    assert await users.ensure_user(name) == home
    assert await users.account_ids(name) == ids


async def test_authorized_keys_hold_exactly_the_keys_given_bare_and_once(harness: Harness) -> None:
    users, name = harness.users, harness.username
    await users.ensure_user(name)
    first, second = public_key("laptop"), public_key()
    await users.write_authorized_keys(name, [first, second, first])
    assert harness.keys_of(name) == [bare(first), bare(second)]
    await users.write_authorized_keys(name, [second])
    assert harness.keys_of(name) == [bare(second)]
    await users.write_authorized_keys(name, [])
    assert harness.keys_of(name) == []


async def test_a_bad_key_is_refused_and_the_previous_keys_stay(harness: Harness) -> None:
    users, name = harness.users, harness.username
    await users.ensure_user(name)
    key = public_key()
    await users.write_authorized_keys(name, [key])
    with pytest.raises(SystemUserError):
        await users.write_authorized_keys(name, [key, 'command="sh" ' + key])
    assert harness.keys_of(name) == [bare(key)]


async def test_keys_for_an_account_that_does_not_exist(harness: Harness) -> None:
    users, name = harness.users, harness.username
    await users.write_authorized_keys(name, [])  # no account, no key logs in: already so
    with pytest.raises(SystemUserError):
        await users.write_authorized_keys(name, [public_key()])
    assert await users.account_ids(name) is None


async def test_a_removed_account_is_gone_and_removing_it_again_is_fine(harness: Harness) -> None:
    users, name = harness.users, harness.username
    await users.ensure_user(name)
    await users.write_authorized_keys(name, [public_key()])
    await users.remove_user(name)
    assert await users.account_ids(name) is None
    assert harness.keys_of(name) is None
    await users.remove_user(name)
