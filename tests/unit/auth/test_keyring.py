"""Specification of hostplane.keys: the key file outside the database and the keys derived from it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from hostplane.keys import KEY_BYTES, KeyFileError, Keyring, new_key_file_content, read_key_file

CONTEXT = "totp:42"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_master(secrets.token_bytes(KEY_BYTES))


def flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- sealing (AES-256-GCM bound to a context) -------------------------------------------------------


def test_sealed_secret_opens_to_the_plaintext(keyring: Keyring) -> None:
    sealed = keyring.seal(b"JBSWY3DPEHPK3PXP", CONTEXT)
    assert keyring.open(sealed, CONTEXT) == b"JBSWY3DPEHPK3PXP"


def test_sealed_secret_does_not_contain_the_plaintext(keyring: Keyring) -> None:
    plaintext = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    assert plaintext not in keyring.seal(plaintext, CONTEXT)


def test_sealing_twice_gives_different_ciphertexts(keyring: Keyring) -> None:
    assert keyring.seal(b"same", CONTEXT) != keyring.seal(b"same", CONTEXT)


def test_sealed_secret_does_not_open_under_another_context(keyring: Keyring) -> None:
    sealed = keyring.seal(b"secret of user 42", "totp:42")
    with pytest.raises(InvalidTag):
        keyring.open(sealed, "totp:43")


def test_sealed_secret_does_not_open_with_another_master_key(keyring: Keyring) -> None:
    other = Keyring.from_master(secrets.token_bytes(KEY_BYTES))
    with pytest.raises(InvalidTag):
        other.open(keyring.seal(b"secret", CONTEXT), CONTEXT)


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
def test_tampered_sealed_secret_does_not_open(keyring: Keyring, where: str) -> None:
    sealed = keyring.seal(b"a secret worth protecting", CONTEXT)
    index = {"nonce": 1, "ciphertext": 1 + 12, "tag": len(sealed) - 1}[where]
    with pytest.raises(InvalidTag):
        keyring.open(flip_byte(sealed, index), CONTEXT)


def test_truncated_sealed_secret_does_not_open(keyring: Keyring) -> None:
    sealed = keyring.seal(b"a secret worth protecting", CONTEXT)
    with pytest.raises(InvalidTag):
        keyring.open(sealed[:-1], CONTEXT)


def test_sealed_secret_with_an_unknown_version_is_refused(keyring: Keyring) -> None:
    sealed = keyring.seal(b"secret", CONTEXT)
    with pytest.raises(KeyFileError, match="version"):
        keyring.open(b"\x02" + sealed[1:], CONTEXT)


# --- derived keys and keyed hashes ---------------------------------------------------------------------


def test_derived_keys_are_distinct_from_each_other_and_from_the_master() -> None:
    master = secrets.token_bytes(KEY_BYTES)
    ring = Keyring.from_master(master)
    keys = {ring.signing_key, ring.sealing_key, ring.hashing_key, master}
    assert len(keys) == 4
    assert all(len(key) == 32 for key in keys)


def test_derivation_is_deterministic_for_one_master_key() -> None:
    master = secrets.token_bytes(KEY_BYTES)
    assert Keyring.from_master(master) == Keyring.from_master(master)


def test_keyed_hash_is_hmac_sha256_under_the_hashing_key(keyring: Keyring) -> None:
    expected = hmac.new(keyring.hashing_key, b"abcd1234ef", hashlib.sha256).hexdigest()
    assert keyring.keyed_hash("abcd1234ef") == expected


def test_keyed_hash_is_stable_for_one_key(keyring: Keyring) -> None:
    assert keyring.keyed_hash("recovery-code") == keyring.keyed_hash("recovery-code")


def test_keyed_hash_differs_per_key(keyring: Keyring) -> None:
    other = Keyring.from_master(secrets.token_bytes(KEY_BYTES))
    assert keyring.keyed_hash("recovery-code") != other.keyed_hash("recovery-code")


def test_keyed_hash_differs_per_value_and_never_contains_it(keyring: Keyring) -> None:
    first, second = keyring.keyed_hash("abcdefghij"), keyring.keyed_hash("abcdefghik")
    assert first != second
    assert "abcdefghij" not in first
    assert keyring.keyed_hash("abcdefghij") != hashlib.sha256(b"abcdefghij").hexdigest()


# --- the key file --------------------------------------------------------------------------------------


def test_new_key_file_reads_back_as_32_random_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "one.key", tmp_path / "two.key"
    first.write_bytes(new_key_file_content())
    second.write_bytes(new_key_file_content())
    assert len(read_key_file(first)) == KEY_BYTES
    assert read_key_file(first) != read_key_file(second)


def test_key_file_tolerates_surrounding_whitespace(tmp_path: Path) -> None:
    raw = secrets.token_bytes(KEY_BYTES)
    path = tmp_path / "secret.key"
    path.write_text(f"  {base64.b64encode(raw).decode()}\n\n")
    assert read_key_file(path) == raw


def test_missing_key_file_is_a_key_file_error_naming_init(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="missing.*hostplane init"):
        read_key_file(tmp_path / "absent.key")


@pytest.mark.parametrize(
    "content",
    [b"this is not base64!!\n", b"QUJD=garbage\n", b"\xff\xfe\x00binary", b""],
    ids=["not-base64", "bad-padding", "binary", "empty"],
)
def test_key_file_that_is_not_32_base64_bytes_is_a_key_file_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        read_key_file(path)


@pytest.mark.parametrize("size", [16, 31, 33, 64])
def test_key_file_of_the_wrong_length_is_a_key_file_error(tmp_path: Path, size: int) -> None:
    path = tmp_path / "secret.key"
    path.write_text(base64.b64encode(secrets.token_bytes(size)).decode())
    with pytest.raises(KeyFileError, match="32 bytes"):
        read_key_file(path)
