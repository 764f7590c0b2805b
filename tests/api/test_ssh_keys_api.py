"""SSH keys of one's own account through the native API: add (validated, fingerprint as `ssh-keygen -lf`
prints it), list, refuse duplicates and dangerous input, remove by fingerprint, never see another's keys."""

from __future__ import annotations

import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from tests.conftest import Account, Api

KEYS = "/api/v1/account/ssh-keys"


@dataclass(frozen=True)
class GeneratedKey:
    text: str
    """The public key line as ssh-keygen wrote it (type, base64, comment), without the newline."""
    fingerprint: str
    """What `ssh-keygen -l -E sha256 -f` prints for it."""

    @property
    def bare(self) -> str:
        """Type and base64 only."""
        return " ".join(self.text.split()[:2])


def ssh_keygen(tmp_path: Path, name: str, *args: str) -> GeneratedKey:
    """A fresh key pair made by OpenSSH itself, with OpenSSH's own fingerprint of it."""
    private = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-N", "", "-C", f"{name}@test", "-f", str(private), *args],
        check=True,
        capture_output=True,
        timeout=60,
    )
    public = private.with_name(f"{name}.pub")
    listing = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return GeneratedKey(text=public.read_text().strip(), fingerprint=listing.split()[1])


def openssh_text(key: Any) -> str:
    return str(key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode())


@pytest.fixture
def ed25519_key(tmp_path: Path) -> GeneratedKey:
    return ssh_keygen(tmp_path, "id_ed25519", "-t", "ed25519")


async def ssh_keys(api: Api) -> list[dict[str, Any]]:
    response = await api.get(KEYS)
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()
    return keys


async def test_an_ed25519_key_from_ssh_keygen_is_added_with_the_openssh_fingerprint(
    user_api: Api, alice: Account, ed25519_key: GeneratedKey
) -> None:
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"name": "laptop", "public_key": ed25519_key.text})
    assert response.status_code == 201, response.text
    key = response.json()
    assert key["fingerprint"] == ed25519_key.fingerprint
    assert key["fingerprint"].startswith("SHA256:")
    assert (key["name"], key["key_type"], key["bits"]) == ("laptop", "ssh-ed25519", 256)
    assert key["public_key"].split()[:2] == ed25519_key.text.split()[:2]


@pytest.mark.parametrize(
    ("args", "key_type", "bits"),
    [
        (("-t", "ecdsa", "-b", "256"), "ecdsa-sha2-nistp256", 256),
        (("-t", "ecdsa", "-b", "521"), "ecdsa-sha2-nistp521", 521),
        (("-t", "rsa", "-b", "2048"), "ssh-rsa", 2048),
    ],
    ids=["ecdsa-256", "ecdsa-521", "rsa-2048"],
)
async def test_ecdsa_and_rsa_keys_from_ssh_keygen_are_accepted_with_the_openssh_fingerprint(
    user_api: Api, alice: Account, tmp_path: Path, args: tuple[str, ...], key_type: str, bits: int
) -> None:
    generated = ssh_keygen(tmp_path, "id_key", *args)
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"name": "server", "public_key": generated.text})
    assert response.status_code == 201, response.text
    key = response.json()
    assert (key["key_type"], key["bits"]) == (key_type, bits)
    assert key["fingerprint"] == generated.fingerprint


async def test_the_list_shows_the_accounts_keys_in_the_order_added(
    user_api: Api, alice: Account, tmp_path: Path
) -> None:
    await user_api.login(alice)
    assert await ssh_keys(user_api) == []
    first = ssh_keygen(tmp_path, "first", "-t", "ed25519")
    second = ssh_keygen(tmp_path, "second", "-t", "ecdsa")
    for name, generated in (("first", first), ("second", second)):
        response = await user_api.post(KEYS, json={"name": name, "public_key": generated.text})
        assert response.status_code == 201, response.text
    listed = await ssh_keys(user_api)
    assert [(key["name"], key["fingerprint"]) for key in listed] == [
        ("first", first.fingerprint),
        ("second", second.fingerprint),
    ]
    assert {"name", "key_type", "bits", "fingerprint", "public_key", "created_at"} == set(listed[0])


async def test_the_same_key_twice_on_one_account_is_422(
    user_api: Api, alice: Account, ed25519_key: GeneratedKey
) -> None:
    await user_api.login(alice)
    text = ed25519_key.text
    assert (await user_api.post(KEYS, json={"name": "laptop", "public_key": text})).status_code == 201
    other_comment = " ".join(text.split()[:2] + ["another-comment"])
    response = await user_api.post(KEYS, json={"name": "again", "public_key": other_comment})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "public_key"
    assert response.json()["errors"][0]["rule"] == "unique"
    assert [key["name"] for key in await ssh_keys(user_api)] == ["laptop"]


async def test_the_same_key_on_another_account_is_fine(
    user_api: Api, alice: Account, make_account: Callable[..., Any], ed25519_key: GeneratedKey
) -> None:
    bob: Account = await make_account("bob")
    bob_api = user_api.from_peer("198.51.100.9")
    await bob_api.login(bob)
    await user_api.login(alice)
    text = ed25519_key.text
    assert (await user_api.post(KEYS, json={"name": "shared", "public_key": text})).status_code == 201
    assert (await bob_api.post(KEYS, json={"name": "shared", "public_key": text})).status_code == 201
    assert len(await ssh_keys(user_api)) == 1
    assert len(await ssh_keys(bob_api)) == 1
    await bob_api.aclose()


def dsa_key() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography deprecates serialising DSA keys, which is the point here
        return openssh_text(dsa.generate_private_key(key_size=1024).public_key())


def short_rsa_key() -> str:
    return openssh_text(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())


BAD_KEYS: dict[str, Callable[[str], str]] = {
    "dsa": lambda good: dsa_key(),
    "rsa-1024": lambda good: short_rsa_key(),
    "command-option": lambda good: f'command="/bin/sh -c id" {good}',
    "no-pty-option": lambda good: f'no-pty,from="*" {good}',
    "two-keys-on-one-line": lambda good: f"{good} {good}",
    "two-keys-on-two-lines": lambda good: f"{good}\n{good}",
    "crlf-inside": lambda good: good.replace(" ", "\r\n", 1),
    "trailing-crlf": lambda good: f"{good}\r\n",
    "bad-base64": lambda good: good.split()[0] + " AAAA!!notbase64",
    "truncated-blob": lambda good: good.split()[0] + " " + good.split()[1][:-12],
    "type-mismatch": lambda good: "ssh-rsa " + good.split()[1],
    "empty": lambda good: "",
    "private-key-header": lambda good: "-----BEGIN OPENSSH PRIVATE KEY-----",
}


@pytest.mark.parametrize("kind", sorted(BAD_KEYS))
async def test_dangerous_or_weak_keys_are_422_and_nothing_is_stored(
    user_api: Api, alice: Account, ed25519_key: GeneratedKey, kind: str
) -> None:
    good = ed25519_key.bare
    await user_api.login(alice)
    response = await user_api.post(KEYS, json={"name": "bad", "public_key": BAD_KEYS[kind](good)})
    assert response.status_code == 422, (kind, response.text)
    assert await ssh_keys(user_api) == []


async def test_a_key_without_a_name_is_422(user_api: Api, alice: Account, ed25519_key: GeneratedKey) -> None:
    await user_api.login(alice)
    for name in ("", "   "):
        response = await user_api.post(KEYS, json={"name": name, "public_key": ed25519_key.text})
        assert response.status_code == 422
    assert await ssh_keys(user_api) == []


async def test_a_key_is_removed_by_its_fingerprint(user_api: Api, alice: Account, tmp_path: Path) -> None:
    await user_api.login(alice)
    keep = ssh_keygen(tmp_path, "keep", "-t", "ed25519")
    drop = ssh_keygen(tmp_path, "drop", "-t", "ed25519")
    for name, generated in (("keep", keep), ("drop", drop)):
        await user_api.post(KEYS, json={"name": name, "public_key": generated.text})
    response = await user_api.post(f"{KEYS}/remove", json={"fingerprint": drop.fingerprint})
    assert response.status_code == 204, response.text
    assert [key["fingerprint"] for key in await ssh_keys(user_api)] == [keep.fingerprint]
    again = await user_api.post(f"{KEYS}/remove", json={"fingerprint": drop.fingerprint})
    assert again.status_code == 404


async def test_adding_and_removing_keys_is_recorded(user_api: Api, alice: Account, ed25519_key: GeneratedKey) -> None:
    await user_api.login(alice)
    fingerprint = ed25519_key.fingerprint
    await user_api.post(KEYS, json={"name": "laptop", "public_key": ed25519_key.text})
    await user_api.post(f"{KEYS}/remove", json={"fingerprint": fingerprint})
    response = await user_api.get("/api/v1/account/activity", params={"event": "account.ssh_key.*"})
    entries = response.json()["data"]
    assert [(e["event"], e["properties"]) for e in entries] == [
        ("account.ssh_key.deleted", {"fingerprint": fingerprint}),
        ("account.ssh_key.created", {"fingerprint": fingerprint}),
    ]


async def test_removing_an_unknown_fingerprint_is_404(user_api: Api, alice: Account, ed25519_key: GeneratedKey) -> None:
    await user_api.login(alice)
    await user_api.post(KEYS, json={"name": "laptop", "public_key": ed25519_key.text})
    response = await user_api.post(
        f"{KEYS}/remove", json={"fingerprint": "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert len(await ssh_keys(user_api)) == 1


async def test_another_users_key_is_neither_visible_nor_removable(
    user_api: Api, alice: Account, make_account: Callable[..., Any], ed25519_key: GeneratedKey
) -> None:
    bob: Account = await make_account("bob")
    bob_api = user_api.from_peer("198.51.100.9")
    await bob_api.login(bob)
    added = await bob_api.post(KEYS, json={"name": "bobs", "public_key": ed25519_key.text})
    assert added.status_code == 201
    await user_api.login(alice)
    assert await ssh_keys(user_api) == []
    response = await user_api.post(f"{KEYS}/remove", json={"fingerprint": added.json()["fingerprint"]})
    assert response.status_code == 404
    assert [key["name"] for key in await ssh_keys(bob_api)] == ["bobs"]
    await bob_api.aclose()
