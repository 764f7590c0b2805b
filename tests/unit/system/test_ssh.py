"""Hosting users and their Linux accounts: the name mapping, the authorized_keys content, and how the services
call the system-users driver (a recording fake here; tests/integration/ssh logs in over a real sshd)."""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hostplane.activity.log import Actor
from hostplane.auth.models import ROLE_ADMIN, User
from hostplane.auth.principal import Client, Principal
from hostplane.profile.models import SshKey
from hostplane.profile.service import AccountService
from hostplane.runtime import Runtime
from hostplane.system.fake import RecordingSystemUsers
from hostplane.system.ssh import (
    DisabledSystemUsers,
    LinuxSystemUsers,
    SystemUserError,
    _write_keys_nofollow,
    authorized_keys_content,
    linux_name,
)
from hostplane.users.service import UserAdminService
from tests.api.test_ssh_keys_api import GeneratedKey, ssh_keygen
from tests.conftest import PASSWORD, Account, Api

KEYS = "/api/v1/account/ssh-keys"
DEBIAN_NAME_REGEX = re.compile(r"^[a-z][-a-z0-9_]*$")
"""adduser's default NAME_REGEX (useradd is laxer)."""


@pytest.fixture
def system_users(runtime: Runtime) -> RecordingSystemUsers:
    fake = RecordingSystemUsers()
    runtime.system_users = fake
    return fake


@pytest.fixture
def keys(tmp_path: Path) -> list[GeneratedKey]:
    return [ssh_keygen(tmp_path, f"key{index}", "-t", "ed25519") for index in range(2)]


async def stored_fingerprints(runtime: Runtime, user_id: int) -> list[str]:
    async with runtime.reading() as db:
        return list(await db.scalars(select(SshKey.fingerprint).where(SshKey.user_id == user_id).order_by(SshKey.id)))


# --- the mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["root", "postfix", "www-data", "daemon", "nobody"])
def test_a_panel_name_equal_to_a_system_account_maps_to_a_prefixed_account(username: str) -> None:
    assert linux_name(username) == f"hp-{username}"
    with pytest.raises(KeyError):
        pwd.getpwnam(linux_name(username))


def test_linux_names_fit_useradds_32_characters_and_stay_distinct() -> None:
    longest = "a" * 32
    almost = "a" * 31 + "b"
    fits = "a" * 29
    assert linux_name(fits) == "hp-" + fits
    assert all(len(linux_name(name)) <= 32 for name in (longest, almost, fits))
    assert len({linux_name(longest), linux_name(almost), linux_name(fits)}) == 3
    assert all(DEBIAN_NAME_REGEX.match(linux_name(name)) for name in (longest, almost, fits, "al_ice-2"))


def test_authorized_keys_hold_one_bare_key_per_line(keys: list[GeneratedKey]) -> None:
    content = authorized_keys_content([key.text for key in keys])
    assert content.decode().splitlines() == [key.bare for key in keys]
    assert content.endswith(b"\n")
    assert authorized_keys_content([]) == b""


@pytest.mark.parametrize(
    "prefix", ['command="/bin/sh" ', "no-pty ", 'from="*" ', 'restrict,permitopen="x:1" '], ids=str.strip
)
def test_a_key_with_an_option_prefix_never_reaches_authorized_keys(keys: list[GeneratedKey], prefix: str) -> None:
    with pytest.raises(SystemUserError):
        authorized_keys_content([keys[0].bare, prefix + keys[1].bare])


def test_a_key_smuggling_a_second_line_never_reaches_authorized_keys(keys: list[GeneratedKey]) -> None:
    with pytest.raises(SystemUserError):
        authorized_keys_content([keys[0].bare + "\n" + keys[1].bare])


# --- the services call the driver --------------------------------------------------------------------------


async def test_creating_a_hosting_user_creates_its_linux_account(
    system_users: RecordingSystemUsers, make_account: Callable[..., Any]
) -> None:
    await make_account("carol")
    assert system_users.users == {"carol"}
    assert system_users.keys == {"carol": []}  # an empty authorized_keys: no key logs in yet


async def test_an_administrator_gets_no_linux_account(
    system_users: RecordingSystemUsers, make_account: Callable[..., Any]
) -> None:
    await make_account("root", role=ROLE_ADMIN)
    assert system_users.calls == []


async def test_a_failing_account_creation_rolls_the_panel_user_back(
    runtime: Runtime, system_users: RecordingSystemUsers
) -> None:
    system_users.fail_on.add("ensure_user")
    with pytest.raises(SystemUserError):
        await UserAdminService(runtime).create_user(
            Actor(None, "test"), username="carol", email="carol@example.com", password=PASSWORD
        )
    async with runtime.reading() as db:
        assert await db.scalar(select(User).where(User.username == "carol")) is None


async def test_adding_a_key_writes_all_of_the_users_keys_to_its_account(
    user_api: Api, system_users: RecordingSystemUsers, alice: Account, keys: list[GeneratedKey]
) -> None:
    await user_api.login(alice)
    for index, key in enumerate(keys):
        response = await user_api.post(KEYS, json={"name": f"k{index}", "public_key": key.text})
        assert response.status_code == 201, response.text
    assert system_users.keys == {"alice": [key.bare for key in keys]}


async def test_removing_a_key_rewrites_the_file_without_it(
    user_api: Api, system_users: RecordingSystemUsers, alice: Account, keys: list[GeneratedKey]
) -> None:
    await user_api.login(alice)
    for index, key in enumerate(keys):
        assert (await user_api.post(KEYS, json={"name": f"k{index}", "public_key": key.text})).status_code == 201
    response = await user_api.post(f"{KEYS}/remove", json={"fingerprint": keys[0].fingerprint})
    assert response.status_code == 204, response.text
    assert system_users.keys == {"alice": [keys[1].bare]}


async def test_a_failing_write_refuses_the_new_key_and_stores_nothing(
    runtime: Runtime, user_api: Api, system_users: RecordingSystemUsers, alice: Account, keys: list[GeneratedKey]
) -> None:
    await user_api.login(alice)
    assert (await user_api.post(KEYS, json={"name": "old", "public_key": keys[0].text})).status_code == 201
    system_users.fail_on.add("write_authorized_keys")
    response = await user_api.post(KEYS, json={"name": "new", "public_key": keys[1].text})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "system_user_failed"
    assert await stored_fingerprints(runtime, alice.user.id) == [keys[0].fingerprint]
    assert system_users.keys == {"alice": [keys[0].bare]}


async def test_a_failing_write_keeps_a_removed_key_stored(
    runtime: Runtime, user_api: Api, system_users: RecordingSystemUsers, alice: Account, keys: list[GeneratedKey]
) -> None:
    await user_api.login(alice)
    assert (await user_api.post(KEYS, json={"name": "old", "public_key": keys[0].text})).status_code == 201
    system_users.fail_on.add("write_authorized_keys")
    response = await user_api.post(f"{KEYS}/remove", json={"fingerprint": keys[0].fingerprint})
    assert response.status_code == 500
    assert await stored_fingerprints(runtime, alice.user.id) == [keys[0].fingerprint]


async def test_one_users_keys_never_reach_another_users_account(
    user_api: Api,
    system_users: RecordingSystemUsers,
    alice: Account,
    make_account: Callable[..., Any],
    keys: list[GeneratedKey],
) -> None:
    bob: Account = await make_account("bob")
    bob_api = user_api.from_peer("203.0.113.8")
    await user_api.login(alice)
    await bob_api.login(bob)
    assert (await user_api.post(KEYS, json={"name": "a", "public_key": keys[0].text})).status_code == 201
    assert (await bob_api.post(KEYS, json={"name": "b", "public_key": keys[1].text})).status_code == 201
    assert system_users.keys == {"alice": [keys[0].bare], "bob": [keys[1].bare]}


async def test_disabling_a_user_revokes_its_keys_and_enabling_restores_them(
    runtime: Runtime, user_api: Api, system_users: RecordingSystemUsers, alice: Account, keys: list[GeneratedKey]
) -> None:
    await user_api.login(alice)
    assert (await user_api.post(KEYS, json={"name": "a", "public_key": keys[0].text})).status_code == 201
    admins = UserAdminService(runtime)
    await admins.set_disabled(Actor(None, "test"), alice.user.id, True)
    assert system_users.keys == {"alice": []}
    await admins.set_disabled(Actor(None, "test"), alice.user.id, False)
    assert system_users.keys == {"alice": [keys[0].bare]}


async def test_an_administrators_keys_are_stored_but_reach_no_account(
    runtime: Runtime, system_users: RecordingSystemUsers, admin: Account, keys: list[GeneratedKey]
) -> None:
    principal = Principal(user=admin.user, client=Client(ip="203.0.113.7"), session_id="test")
    await AccountService(runtime).add_ssh_key(principal, "a", keys[0].text)
    assert await stored_fingerprints(runtime, admin.user.id) == [keys[0].fingerprint]
    assert system_users.calls == []


async def test_the_test_settings_never_touch_linux_accounts(runtime: Runtime) -> None:
    assert isinstance(runtime.system_users, DisabledSystemUsers)


# --- the real driver's refusals (no account is created) ----------------------------------------------------


async def test_a_home_root_below_a_world_writable_folder_is_refused_before_any_account_exists(
    tmp_path: Path,
) -> None:
    world_writable = tmp_path / "shared"
    world_writable.mkdir()
    os.chmod(world_writable, 0o1777)
    driver = LinuxSystemUsers(world_writable / "home")
    with pytest.raises(SystemUserError, match="not safe for SSH"):
        await driver.ensure_user("hptestnever")
    with pytest.raises(KeyError):
        pwd.getpwnam(linux_name("hptestnever"))


def test_a_symlinked_ssh_folder_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home" / "hp-x"
    home.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (home / ".ssh").symlink_to(target)
    with pytest.raises(OSError):
        _write_keys_nofollow(tmp_path / "home", "hp-x", pwd.getpwuid(os.getuid()), b"ssh-ed25519 AAAA\n")
    assert list(target.iterdir()) == []


def test_a_symlinked_authorized_keys_is_replaced_not_followed(tmp_path: Path) -> None:
    ssh = tmp_path / "home" / "hp-x" / ".ssh"
    ssh.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (ssh / "authorized_keys").symlink_to(victim)
    _write_keys_nofollow(tmp_path / "home", "hp-x", pwd.getpwuid(os.getuid()), b"ssh-ed25519 AAAA\n")
    assert victim.read_text() == "precious\n"
    written = ssh / "authorized_keys"
    assert not written.is_symlink()
    assert written.read_bytes() == b"ssh-ed25519 AAAA\n"
    assert (written.stat().st_mode & 0o777, ssh.stat().st_mode & 0o777) == (0o600, 0o700)
    assert [p.name for p in ssh.iterdir()] == ["authorized_keys"]  # no temporary file left behind
