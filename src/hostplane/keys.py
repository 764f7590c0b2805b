"""The key file kept outside the database, and what is derived from it.

One random master key; HKDF derives independent keys for token signing, encryption at rest and keyed hashes,
so a leak of the database alone reveals no TOTP secret, private key or usable recovery code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
_NONCE_BYTES = 12
_VERSION = b"\x01"


class KeyFileError(RuntimeError):
    pass


def new_key_file_content() -> bytes:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n"


def read_key_file(path: Path) -> bytes:
    try:
        raw = base64.b64decode(path.read_text().strip(), validate=True)
    except FileNotFoundError as exc:
        raise KeyFileError(f"key file {path} is missing: run `hostplane init`") from exc
    except OSError as exc:
        raise KeyFileError(f"key file {path} cannot be read: {exc.strerror}") from exc
    except ValueError as exc:
        raise KeyFileError(f"key file {path} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise KeyFileError(f"key file {path} must hold {KEY_BYTES} bytes")
    return raw


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master)


@dataclass(frozen=True)
class Keyring:
    """Purpose-bound keys derived from the master key."""

    signing_key: bytes
    sealing_key: bytes
    hashing_key: bytes

    @classmethod
    def from_master(cls, master: bytes) -> Keyring:
        return cls(
            signing_key=_derive(master, "hostplane/jwt-hs256"),
            sealing_key=_derive(master, "hostplane/seal-aes256gcm"),
            hashing_key=_derive(master, "hostplane/keyed-hash"),
        )

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt with AES-256-GCM; `context` (e.g. "totp:<user id>") binds the ciphertext to its row."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + AESGCM(self.sealing_key).encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if sealed[:1] != _VERSION:
            raise KeyFileError("unknown sealed-secret version")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        return AESGCM(self.sealing_key).decrypt(nonce, body, context.encode())

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 of a high-entropy secret (API key, recovery code): fast to check, useless without the key."""
        return hmac.new(self.hashing_key, value.encode(), hashlib.sha256).hexdigest()
