"""Validation of SSH public keys that users paste into the panel.

A key that is accepted here ends up in an ``authorized_keys`` file, so the
parser is deliberately strict: it accepts exactly one bare public key and
refuses anything that could smuggle extra lines, ``authorized_keys`` options
or weak algorithms into that file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

__all__ = [
    "MAX_COMMENT_LENGTH",
    "MAX_INPUT_LENGTH",
    "MAX_RSA_BITS",
    "MIN_RSA_BITS",
    "ParsedSshKey",
    "SshKeyError",
    "parse_public_key",
]

#: Upper bound on the pasted text; real keys (even RSA 16384) are far smaller.
MAX_INPUT_LENGTH = 16 * 1024
#: Longest comment kept; longer ones are almost certainly pasted garbage.
MAX_COMMENT_LENGTH = 255
#: Smallest RSA modulus still considered safe.
MIN_RSA_BITS = 2048
#: OpenSSH itself refuses larger RSA moduli, so such a key could never log in.
MAX_RSA_BITS = 16384

_ED25519 = "ssh-ed25519"
_RSA = "ssh-rsa"
_ECDSA_CURVES = {
    "ecdsa-sha2-nistp256": 256,
    "ecdsa-sha2-nistp384": 384,
    "ecdsa-sha2-nistp521": 521,
}
_ACCEPTED_TYPES = frozenset({_ED25519, _RSA, *_ECDSA_CURVES})

_DSA = "ssh-dss"
_CERT_SUFFIX = "-cert-v01@openssh.com"
_SK_PREFIX = "sk-"

# Anything shaped like an SSH key type name, accepted or not; a first word
# that is not shaped like this is an authorized_keys option prefix.
_KEY_TYPE_LIKE = re.compile(
    r"(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9-]+@openssh\.com"
    r"|[a-z0-9-]+-cert-v0\d@openssh\.com)",
    re.IGNORECASE,
)
# Real key type names only, so that a comment such as "made by ssh-keygen"
# is not mistaken for a second key.
_KNOWN_KEY_TYPE = re.compile(
    r"(?:ssh-(?:ed25519|ed448|rsa|dss)|ecdsa-sha2-nistp\d+"
    r"|sk-ssh-ed25519|sk-ecdsa-sha2-nistp\d+)"
    r"(?:@openssh\.com|-cert-v0\d@openssh\.com)?",
    re.IGNORECASE,
)

_GOOD_KEYS_HINT = "use an Ed25519, ECDSA or RSA (2048 bits or more) key instead"


@dataclass(frozen=True)
class ParsedSshKey:
    """A validated public key, in the form that is safe to store and display."""

    key_type: str
    public_key: str
    comment: str | None
    fingerprint: str
    bits: int


class SshKeyError(ValueError):
    """A pasted SSH key was refused; the message is meant for the end user."""


def parse_public_key(text: str) -> ParsedSshKey:
    """Validate one pasted OpenSSH public key line and describe it.

    Raises :class:`SshKeyError` with a user-facing sentence for anything that
    is not exactly one acceptable bare public key.
    """
    _check_raw_text(text)
    stripped = text.strip(" ")
    if not stripped:
        raise SshKeyError("No SSH key was provided.")

    tokens = stripped.split(" ")
    words = [t for t in tokens if t]
    key_type = words[0]
    _check_key_type(key_type, words)
    if len(words) < 2:
        raise SshKeyError("The SSH key is incomplete: expected the key type followed by the base64 key data.")
    blob_b64 = words[1]
    comment = _extract_comment(stripped, words)

    blob = _decode_blob(blob_b64)
    _check_embedded_type(key_type, blob)
    bits = _load_and_measure(key_type, blob_b64)

    digest = hashlib.sha256(blob).digest()
    fingerprint = "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")
    return ParsedSshKey(
        key_type=key_type,
        public_key=f"{key_type} {blob_b64}",
        comment=comment,
        fingerprint=fingerprint,
        bits=bits,
    )


def _check_raw_text(text: str) -> None:
    """Refuse empty, oversized, multi-line or non-printable input up front."""
    if not text:
        raise SshKeyError("No SSH key was provided.")
    if len(text) > MAX_INPUT_LENGTH or (len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_LENGTH):
        raise SshKeyError(f"The SSH key is too long (the limit is {MAX_INPUT_LENGTH} bytes).")
    if "\n" in text or "\r" in text:
        key_lines = [
            line for line in re.split(r"[\r\n]+", text) if any(_KNOWN_KEY_TYPE.fullmatch(word) for word in line.split())
        ]
        if len(key_lines) > 1:
            raise SshKeyError("Only one SSH key can be added at a time.")
        raise SshKeyError("The SSH key must be a single line; line breaks are not allowed.")
    for ch in text:
        # isprintable() is False for C0/C1 controls (NUL, TAB, ESC, DEL...),
        # format characters such as U+202E and non-ASCII spaces.
        if ch != " " and not ch.isprintable():
            raise SshKeyError(
                f"The SSH key contains a control or non-printable character (U+{ord(ch):04X}), which is not allowed."
            )


def _check_key_type(key_type: str, words: list[str]) -> None:
    """Refuse option prefixes and unwanted algorithms, with a specific reason."""
    if not _KEY_TYPE_LIKE.fullmatch(key_type):
        looks_like_options = any(c in key_type for c in '=",')
        if looks_like_options or any(_KNOWN_KEY_TYPE.fullmatch(w) for w in words[1:]):
            raise SshKeyError(
                'Key options (such as command="..." or no-pty) are not '
                "accepted; paste only the public key, starting with its type."
            )
        raise SshKeyError("The text does not start with a recognised SSH key type (such as ssh-ed25519).")
    lowered = key_type.lower()
    if lowered.endswith(_CERT_SUFFIX) or "-cert-v0" in lowered:
        raise SshKeyError("SSH certificates are not accepted; paste the plain public key instead.")
    if lowered == _DSA:
        raise SshKeyError(f"DSA (ssh-dss) keys are not accepted; {_GOOD_KEYS_HINT}.")
    if lowered.startswith(_SK_PREFIX):
        raise SshKeyError(f"Security-key (sk-) SSH keys such as FIDO/U2F keys are not supported; {_GOOD_KEYS_HINT}.")
    if key_type not in _ACCEPTED_TYPES:
        raise SshKeyError(f"The SSH key type {key_type[:64]!r} is not supported; {_GOOD_KEYS_HINT}.")
    if any(_KNOWN_KEY_TYPE.fullmatch(w) for w in words[1:]):
        raise SshKeyError("Only one SSH key can be added at a time.")


def _extract_comment(stripped: str, words: list[str]) -> str | None:
    """Return the trailing comment (inner spacing preserved) or None."""
    if len(words) < 3:
        return None
    # Skip "type", the spaces, "blob" and the spaces after it.
    rest = stripped[len(words[0]) :].lstrip(" ")
    comment = rest[len(words[1]) :].lstrip(" ")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise SshKeyError(f"The SSH key comment is too long (the limit is {MAX_COMMENT_LENGTH} characters).")
    return comment


def _decode_blob(blob_b64: str) -> bytes:
    """Decode the key data strictly, so the stored text is canonical."""
    invalid = SshKeyError("The SSH key data is not valid base64.")
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not blob or base64.b64encode(blob).decode("ascii") != blob_b64:
        raise invalid
    return blob


def _check_embedded_type(key_type: str, blob: bytes) -> None:
    """The blob names its own type; it must agree with the declared one."""
    if len(blob) < 4:
        raise SshKeyError("The SSH key data is truncated or corrupted.")
    length = int.from_bytes(blob[:4], "big")
    if length > len(blob) - 4:
        raise SshKeyError("The SSH key data is truncated or corrupted.")
    embedded = blob[4 : 4 + length]
    if embedded != key_type.encode("ascii"):
        raise SshKeyError(f"The key data does not match the declared key type {key_type!r}.")


def _load_and_measure(key_type: str, blob_b64: str) -> int:
    """Let the real parser validate the key material and return its size."""
    try:
        key = load_ssh_public_key(f"{key_type} {blob_b64}".encode("ascii"))
    except (
        ValueError,
        TypeError,
        OverflowError,
        NotImplementedError,
        UnsupportedAlgorithm,
    ):
        raise SshKeyError("The SSH key data is invalid or corrupted.") from None

    if key_type == _ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
        return 256
    if key_type in _ECDSA_CURVES and isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.curve.key_size
        if bits != _ECDSA_CURVES[key_type]:
            raise SshKeyError(f"The key data does not match the declared key type {key_type!r}.")
        return bits
    if key_type == _RSA and isinstance(key, rsa.RSAPublicKey):
        bits = key.key_size
        if bits < MIN_RSA_BITS:
            raise SshKeyError(f"RSA keys must be at least {MIN_RSA_BITS} bits; this key has {bits} bits.")
        if bits > MAX_RSA_BITS:
            raise SshKeyError(f"RSA keys larger than {MAX_RSA_BITS} bits are not accepted; this key has {bits} bits.")
        return bits
    raise SshKeyError(f"The key data does not match the declared key type {key_type!r}.")
