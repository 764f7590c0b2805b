"""SSH keys through Pterodactyl's routes: fingerprints as Pterodactyl shows them (phpseclib's SHA256 fingerprint,
which is OpenSSH's without the `SHA256:` prefix), removal by either form, the core's strict key grammar, and keys
managed by an API key with account write access without the password."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostplane.activity.events import Event
from hostplane.runtime import Runtime
from tests.conftest import Account, Api, activity_events
from tests.dialects.pterodactyl.conftest import KeyedClient
from tests.dialects.pterodactyl.ptero import (
    dsa_key,
    ed25519_key,
    error_of,
    items,
    resource,
    rsa_key,
    send,
    sha256_fingerprint,
    ssh_keygen_fingerprint,
    validation_errors,
)


async def add(api: Api, public_key: str, name: str = "laptop") -> dict[str, str]:
    attributes: dict[str, str] = resource(
        await send(api, "POST", "/ssh-keys", {"name": name, "public_key": public_key}), "ssh_key"
    )
    return attributes


async def test_the_fingerprint_is_ssh_keygens_without_its_prefix(user_api: Api, alice: Account, tmp_path: Path) -> None:
    await user_api.login(alice)
    public_key = ed25519_key()
    added = await add(user_api, public_key)
    assert ssh_keygen_fingerprint(public_key, tmp_path) == "SHA256:" + added["fingerprint"]
    assert added["fingerprint"] == sha256_fingerprint(public_key)
    assert not added["fingerprint"].startswith("SHA256:")


async def test_a_key_added_here_is_seen_by_the_native_api(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    added = await add(user_api, rsa_key(), "workstation")
    [native] = (await user_api.get("/api/v1/account/ssh-keys")).json()
    assert (native["name"], native["fingerprint"]) == ("workstation", "SHA256:" + added["fingerprint"])


@pytest.mark.parametrize("form", ["as listed", "with the SHA256 prefix"])
async def test_a_key_is_removed_by_its_fingerprint_in_either_form(
    user_api: Api, alice: Account, runtime: Runtime, form: str
) -> None:
    await user_api.login(alice)
    keep, remove = await add(user_api, ed25519_key(), "keep"), await add(user_api, ed25519_key(), "remove")
    fingerprint = remove["fingerprint"] if form == "as listed" else "SHA256:" + remove["fingerprint"]
    response = await send(user_api, "POST", "/ssh-keys/remove", {"fingerprint": fingerprint})
    assert response.status_code == 204
    assert [key["name"] for key in items(await send(user_api, "GET", "/ssh-keys"), "ssh_key")] == [keep["name"]]
    [entry] = await activity_events(runtime, alice.user.id, Event.SSH_KEY_DELETED)
    assert entry.properties["fingerprint"] == "SHA256:" + remove["fingerprint"]


async def test_removing_an_unknown_fingerprint_is_204_and_changes_nothing(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    await add(user_api, ed25519_key())
    response = await send(user_api, "POST", "/ssh-keys/remove", {"fingerprint": sha256_fingerprint(ed25519_key())})
    assert response.status_code == 204
    assert len(items(await send(user_api, "GET", "/ssh-keys"), "ssh_key")) == 1
    assert await activity_events(runtime, alice.user.id, Event.SSH_KEY_DELETED) == []


async def test_removing_needs_a_fingerprint(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    response = await send(user_api, "POST", "/ssh-keys/remove", {})
    assert validation_errors(response) == [("fingerprint", "required", "The fingerprint field is required.")]


async def test_another_users_key_cannot_be_removed(
    user_api: Api, alice: Account, make_account: Callable[..., Any]
) -> None:
    bob: Account = await make_account("bob")
    bob_api = user_api.from_peer("198.51.100.9")
    await bob_api.login(bob)
    bobs = await add(bob_api, ed25519_key())
    await user_api.login(alice)
    assert (await send(user_api, "POST", "/ssh-keys/remove", {"fingerprint": bobs["fingerprint"]})).status_code == 204
    assert len(items(await send(bob_api, "GET", "/ssh-keys"), "ssh_key")) == 1
    await bob_api.aclose()


@pytest.mark.parametrize(
    ("public_key", "words"),
    [
        (dsa_key(), "DSA"),
        (rsa_key(1024), "2048"),
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ...", ""),
        ("not a key at all", ""),
        ('command="/bin/sh" ' + ed25519_key(), ""),
    ],
    ids=["dsa", "rsa-1024", "truncated", "garbage", "with-options"],
)
async def test_a_bad_public_key_is_refused(user_api: Api, alice: Account, public_key: str, words: str) -> None:
    await user_api.login(alice)
    response = await send(user_api, "POST", "/ssh-keys", {"name": "bad", "public_key": public_key})
    [(field, _rule, detail)] = validation_errors(response)
    assert field == "public_key"
    assert words in detail
    assert items(await send(user_api, "GET", "/ssh-keys"), "ssh_key") == []


async def test_the_same_key_twice_is_refused(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    public_key = ed25519_key()
    await add(user_api, public_key)
    response = await send(user_api, "POST", "/ssh-keys", {"name": "again", "public_key": public_key})
    [(field, rule, detail)] = validation_errors(response)
    assert (field, rule) == ("public_key", "unique")
    assert "already exists" in detail


async def test_a_name_is_required_and_at_most_191_characters(user_api: Api, alice: Account) -> None:
    await user_api.login(alice)
    missing = await send(user_api, "POST", "/ssh-keys", {"public_key": ed25519_key()})
    assert validation_errors(missing) == [("name", "required", "The name field is required.")]
    long = await send(user_api, "POST", "/ssh-keys", {"name": "n" * 192, "public_key": ed25519_key()})
    assert validation_errors(long) == [("name", "max", "The name may not be greater than 191 characters.")]
    await add(user_api, ed25519_key(), "n" * 191)


async def test_an_api_key_adds_and_removes_ssh_keys_without_the_password_but_not_with_a_wrong_one(
    user_api: Api, keyed: KeyedClient, alice: Account, runtime: Runtime
) -> None:
    keyed_api, identifier = await keyed()
    public_key = ed25519_key()
    wrong = await send(
        keyed_api, "POST", "/ssh-keys", {"name": "ci", "public_key": public_key, "password": "wrong-password-1"}
    )
    error_of(wrong, 400, "InvalidPasswordProvidedException")
    assert items(await send(user_api, "GET", "/ssh-keys"), "ssh_key") == []
    added = await send(keyed_api, "POST", "/ssh-keys", {"name": "ci", "public_key": public_key})
    fingerprint = resource(added, "ssh_key")["fingerprint"]
    wrong = await send(
        keyed_api, "POST", "/ssh-keys/remove", {"fingerprint": fingerprint, "password": "wrong-password-1"}
    )
    error_of(wrong, 400, "InvalidPasswordProvidedException")
    assert len(items(await send(user_api, "GET", "/ssh-keys"), "ssh_key")) == 1
    removed = await send(keyed_api, "POST", "/ssh-keys/remove", {"fingerprint": fingerprint})
    assert removed.status_code == 204
    assert items(await send(user_api, "GET", "/ssh-keys"), "ssh_key") == []
    for event in (Event.SSH_KEY_CREATED, Event.SSH_KEY_DELETED):
        [entry] = await activity_events(runtime, alice.user.id, event)
        assert (entry.api_key, entry.properties) == (identifier, {"fingerprint": "SHA256:" + fingerprint})


async def test_a_read_only_api_key_cannot_add_or_remove_ssh_keys(
    user_api: Api, keyed: KeyedClient, alice: Account
) -> None:
    keyed_api, _ = await keyed(scopes=["account:read"])
    fingerprint = (await add(user_api, ed25519_key()))["fingerprint"]
    for proof in ({}, {"password": alice.password}):
        refused = await send(keyed_api, "POST", "/ssh-keys", {"name": "ci", "public_key": ed25519_key(), **proof})
        error_of(refused, 403, "AccessDeniedHttpException")
        refused = await send(keyed_api, "POST", "/ssh-keys/remove", {"fingerprint": fingerprint, **proof})
        error_of(refused, 403, "AccessDeniedHttpException")
    assert [key["fingerprint"] for key in items(await send(user_api, "GET", "/ssh-keys"), "ssh_key")] == [fingerprint]
