"""Specification of which pasted SSH public keys the panel accepts.

Real keys are generated at test time with ``ssh-keygen`` and the parser's
fingerprints are compared with what ``ssh-keygen -lf`` prints.  Keys that
``ssh-keygen`` will not make (weak RSA, DSA, security keys) are built with
``cryptography`` or by hand.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import shutil
import struct
import subprocess
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ed25519, rsa

from hostplane.sshkeys import (
    MAX_COMMENT_LENGTH,
    MAX_INPUT_LENGTH,
    ParsedSshKey,
    SshKeyError,
    parse_public_key,
)

SSH_KEYGEN = shutil.which("ssh-keygen")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _keygen(directory: Path, name: str, *args: str) -> Path:
    """Generate a key pair with ssh-keygen; return the .pub path."""
    assert SSH_KEYGEN is not None
    private = directory / name
    subprocess.run(
        [SSH_KEYGEN, *args, "-N", "", "-C", f"{name}@test", "-f", str(private), "-q"],
        check=True,
        capture_output=True,
    )
    return directory / f"{name}.pub"


def _keygen_fingerprint(pub: Path) -> tuple[int, str]:
    """Bits and SHA256 fingerprint as printed by `ssh-keygen -lf`."""
    assert SSH_KEYGEN is not None
    out = subprocess.run(
        [SSH_KEYGEN, "-l", "-E", "sha256", "-f", str(pub)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), out[1]


def _pub_line(pub: Path) -> str:
    """The .pub file contents as a user would paste them (no newline)."""
    return pub.read_text().rstrip("\n")


def _sshstr(data: bytes) -> bytes:
    """SSH wire-format string: uint32 length then the bytes."""
    return struct.pack(">I", len(data)) + data


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def _openssh_line(public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sshkeys")


@pytest.fixture(scope="module")
def ed25519_pub(keydir: Path) -> Path:
    return _keygen(keydir, "ed", "-t", "ed25519")


@pytest.fixture(scope="module")
def rsa_pub(keydir: Path) -> Path:
    return _keygen(keydir, "rsa2048", "-t", "rsa", "-b", "2048")


@pytest.fixture(scope="module")
def ed25519_line(ed25519_pub: Path) -> str:
    return _pub_line(ed25519_pub)


@pytest.fixture(scope="module")
def ed25519_blob(ed25519_line: str) -> str:
    return ed25519_line.split()[1]


@pytest.fixture(scope="module")
def rsa_line(rsa_pub: Path) -> str:
    return _pub_line(rsa_pub)


@pytest.fixture(scope="module")
def p256_blob(keydir: Path) -> str:
    """Its blob is 104 bytes, so the base64 text ends with one "=" pad."""
    return _pub_line(_keygen(keydir, "p256", "-t", "ecdsa", "-b", "256")).split()[1]


# --------------------------------------------------------------------------
# accepted keys
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "key_type", "bits"),
    [
        ("ed25519", ("-t", "ed25519"), "ssh-ed25519", 256),
        ("p256", ("-t", "ecdsa", "-b", "256"), "ecdsa-sha2-nistp256", 256),
        ("p384", ("-t", "ecdsa", "-b", "384"), "ecdsa-sha2-nistp384", 384),
        ("p521", ("-t", "ecdsa", "-b", "521"), "ecdsa-sha2-nistp521", 521),
        ("rsa2048", ("-t", "rsa", "-b", "2048"), "ssh-rsa", 2048),
        ("rsa3072", ("-t", "rsa", "-b", "3072"), "ssh-rsa", 3072),
    ],
)
def test_accepts_real_keys_with_ssh_keygen_fingerprint_and_size(
    tmp_path: Path, name: str, args: tuple[str, ...], key_type: str, bits: int
) -> None:
    pub = _keygen(tmp_path, name, *args)
    line = _pub_line(pub)

    parsed = parse_public_key(line)

    expected_bits, expected_fingerprint = _keygen_fingerprint(pub)
    assert parsed.key_type == key_type
    assert parsed.fingerprint == expected_fingerprint
    assert parsed.bits == bits == expected_bits
    assert parsed.comment == f"{name}@test"
    assert parsed.public_key == " ".join(line.split()[:2])


def test_public_key_is_normalised_without_the_comment(ed25519_line: str) -> None:
    key_type, blob, _comment = ed25519_line.split(" ", 2)
    assert parse_public_key(ed25519_line).public_key == f"{key_type} {blob}"


def test_key_without_comment_has_no_comment(ed25519_line: str) -> None:
    bare = " ".join(ed25519_line.split()[:2])
    parsed = parse_public_key(bare)
    assert parsed.comment is None
    assert parsed.public_key == bare


def test_comment_keeps_its_inner_spaces_and_unicode(ed25519_blob: str) -> None:
    parsed = parse_public_key(f"ssh-ed25519 {ed25519_blob} Zoë's  laptop (work)")
    assert parsed.comment == "Zoë's  laptop (work)"


def test_comment_may_mention_ssh_keygen(ed25519_blob: str) -> None:
    parsed = parse_public_key(f"ssh-ed25519 {ed25519_blob} made by ssh-keygen")
    assert parsed.comment == "made by ssh-keygen"


def test_leading_and_trailing_spaces_are_ignored(ed25519_line: str) -> None:
    parsed = parse_public_key(f"   {ed25519_line}   ")
    assert parsed == parse_public_key(ed25519_line)


def test_several_spaces_between_fields_are_tolerated(ed25519_line: str) -> None:
    key_type, blob, comment = ed25519_line.split(" ", 2)
    parsed = parse_public_key(f"{key_type}   {blob}    {comment}")
    assert parsed == parse_public_key(ed25519_line)


def test_comment_of_maximum_length_is_accepted(ed25519_blob: str) -> None:
    comment = "c" * MAX_COMMENT_LENGTH
    assert parse_public_key(f"ssh-ed25519 {ed25519_blob} {comment}").comment == comment


def test_fingerprint_is_unpadded_base64_sha256_of_the_blob(ed25519_pub: Path, ed25519_line: str) -> None:
    fingerprint = parse_public_key(ed25519_line).fingerprint
    assert fingerprint.startswith("SHA256:")
    assert not fingerprint.endswith("=")
    assert fingerprint == _keygen_fingerprint(ed25519_pub)[1]


def test_key_generated_by_cryptography_is_accepted() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    parsed = parse_public_key(_openssh_line(key.public_key()))
    assert (parsed.key_type, parsed.bits, parsed.comment) == ("ssh-rsa", 2048, None)


def test_parsed_key_is_immutable(ed25519_line: str) -> None:
    parsed = parse_public_key(ed25519_line)
    assert isinstance(parsed, ParsedSshKey)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.comment = "changed"  # type: ignore[misc]


def test_ssh_key_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_public_key("")


# --------------------------------------------------------------------------
# refused: algorithms and key sizes
# --------------------------------------------------------------------------


def test_refuses_dsa_keys() -> None:
    key = dsa.generate_private_key(key_size=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography deprecates DSA output
        line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    with pytest.raises(SshKeyError, match=r"DSA \(ssh-dss\) keys are not accepted"):
        parse_public_key(line.decode("ascii") + " old@dsa")


def test_refuses_rsa_keys_smaller_than_2048_bits() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(SshKeyError, match=r"at least 2048 bits; this key has 1024"):
        parse_public_key(_openssh_line(key.public_key()))


def test_refuses_rsa_keys_of_2047_bits() -> None:
    n = (1 << 2046) | 1  # odd 2047-bit modulus; loading does not factor it
    public = rsa.RSAPublicNumbers(e=65537, n=n).public_key()
    with pytest.raises(SshKeyError, match=r"at least 2048 bits; this key has 2047"):
        parse_public_key(_openssh_line(public))


def test_refuses_rsa_keys_larger_than_openssh_allows() -> None:
    n = (1 << 16400) | 1
    public = rsa.RSAPublicNumbers(e=65537, n=n).public_key()
    with pytest.raises(SshKeyError, match=r"larger than 16384 bits"):
        parse_public_key(_openssh_line(public))


def test_refuses_certificates(tmp_path: Path) -> None:
    assert SSH_KEYGEN is not None
    _keygen(tmp_path, "ca", "-t", "ed25519")
    user_pub = _keygen(tmp_path, "user", "-t", "ed25519")
    subprocess.run(
        [SSH_KEYGEN, "-s", str(tmp_path / "ca"), "-I", "user-id", "-n", "user", "-q"] + [str(user_pub)],
        check=True,
        capture_output=True,
    )
    cert_line = _pub_line(tmp_path / "user-cert.pub")
    assert cert_line.startswith("ssh-ed25519-cert-v01@openssh.com ")

    with pytest.raises(SshKeyError, match="certificates are not accepted"):
        parse_public_key(cert_line)


def test_refuses_security_key_ed25519() -> None:
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    key_type = "sk-ssh-ed25519@openssh.com"
    blob = _sshstr(key_type.encode()) + _sshstr(raw) + _sshstr(b"ssh:")
    with pytest.raises(SshKeyError, match=r"Security-key \(sk-\) SSH keys"):
        parse_public_key(f"{key_type} {_b64(blob)} yubikey")


def test_refuses_security_key_ecdsa() -> None:
    key_type = "sk-ecdsa-sha2-nistp256@openssh.com"
    blob = _sshstr(key_type.encode()) + _sshstr(b"nistp256") + _sshstr(b"\x04")
    with pytest.raises(SshKeyError, match=r"Security-key \(sk-\) SSH keys"):
        parse_public_key(f"{key_type} {_b64(blob)}")


def test_refuses_unknown_key_types() -> None:
    blob = _b64(_sshstr(b"ssh-foo") + _sshstr(b"x"))
    with pytest.raises(SshKeyError, match="type 'ssh-foo' is not supported"):
        parse_public_key(f"ssh-foo {blob}")


def test_refuses_text_that_does_not_start_with_a_key_type(ed25519_blob: str) -> None:
    with pytest.raises(SshKeyError, match="recognised SSH key type"):
        parse_public_key(f"{ed25519_blob} laptop")


def test_refuses_a_key_type_without_key_data() -> None:
    with pytest.raises(SshKeyError, match="incomplete"):
        parse_public_key("ssh-ed25519")


# --------------------------------------------------------------------------
# refused: authorized_keys options and several keys
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        'command="/bin/sh -c evil"',
        "no-pty",
        'from="10.0.0.1",no-port-forwarding',
        "restrict",
        'environment="PATH=/tmp"',
    ],
)
def test_refuses_option_prefixes(ed25519_line: str, prefix: str) -> None:
    with pytest.raises(SshKeyError, match="Key options .* are not accepted"):
        parse_public_key(f"{prefix} {ed25519_line}")


def test_refuses_option_prefix_before_rsa_key(rsa_line: str) -> None:
    with pytest.raises(SshKeyError, match="Key options .* are not accepted"):
        parse_public_key(f"no-pty {rsa_line}")


@pytest.mark.parametrize("separator", ["\n", "\r\n", "\r", "\n\n"])
def test_refuses_several_keys_on_several_lines(ed25519_line: str, rsa_line: str, separator: str) -> None:
    with pytest.raises(SshKeyError, match="Only one SSH key"):
        parse_public_key(f"{ed25519_line}{separator}{rsa_line}")


def test_refuses_two_keys_on_one_line(ed25519_line: str, rsa_line: str) -> None:
    with pytest.raises(SshKeyError, match="Only one SSH key"):
        parse_public_key(f"{ed25519_line} {rsa_line}")


def test_refuses_a_second_key_type_hidden_in_the_comment(ed25519_blob: str) -> None:
    with pytest.raises(SshKeyError, match="Only one SSH key"):
        parse_public_key(f"ssh-ed25519 {ed25519_blob} ssh-rsa")


# --------------------------------------------------------------------------
# refused: malformed key data
# --------------------------------------------------------------------------


def test_refuses_invalid_base64_characters(ed25519_blob: str) -> None:
    broken = ed25519_blob[:10] + "!" + ed25519_blob[11:]
    with pytest.raises(SshKeyError, match="not valid base64"):
        parse_public_key(f"ssh-ed25519 {broken}")


def test_refuses_base64_with_missing_padding(p256_blob: str) -> None:
    assert p256_blob.endswith("=")
    with pytest.raises(SshKeyError, match="not valid base64"):
        parse_public_key(f"ecdsa-sha2-nistp256 {p256_blob.rstrip('=')}")


def test_refuses_base64_with_extra_padding(ed25519_blob: str) -> None:
    with pytest.raises(SshKeyError, match="not valid base64"):
        parse_public_key(f"ssh-ed25519 {ed25519_blob}=")


def test_refuses_non_canonical_base64(p256_blob: str) -> None:
    # The character before "=" carries two unused bits; flipping one yields
    # text that decodes to the same bytes but is not what OpenSSH writes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = p256_blob.rstrip("=")
    tweaked = body[:-1] + alphabet[alphabet.index(body[-1]) ^ 1] + "="
    assert tweaked != p256_blob
    assert base64.b64decode(tweaked) == base64.b64decode(p256_blob)
    with pytest.raises(SshKeyError, match="not valid base64"):
        parse_public_key(f"ecdsa-sha2-nistp256 {tweaked}")


def test_refuses_base64_that_is_not_a_key() -> None:
    with pytest.raises(SshKeyError, match="truncated or corrupted"):
        parse_public_key("ssh-ed25519 aGVsbG8gd29ybGQ=")


def test_refuses_truncated_key_data(ed25519_blob: str) -> None:
    blob = base64.b64decode(ed25519_blob)[:-5]
    with pytest.raises(SshKeyError, match="invalid or corrupted"):
        parse_public_key(f"ssh-ed25519 {_b64(blob)}")


def test_refuses_trailing_bytes_after_the_key(ed25519_blob: str) -> None:
    blob = base64.b64decode(ed25519_blob) + b"\x00\x00\x00\x01X"
    with pytest.raises(SshKeyError, match="invalid or corrupted"):
        parse_public_key(f"ssh-ed25519 {_b64(blob)}")


def test_refuses_invalid_ecdsa_point() -> None:
    point = b"\x04" + b"\x01" * 64  # not on the P-256 curve
    key_type = b"ecdsa-sha2-nistp256"
    blob = _sshstr(key_type) + _sshstr(b"nistp256") + _sshstr(point)
    with pytest.raises(SshKeyError, match="invalid or corrupted"):
        parse_public_key(f"ecdsa-sha2-nistp256 {_b64(blob)}")


def test_refuses_blob_whose_embedded_type_differs_from_the_declared_type(
    ed25519_blob: str,
) -> None:
    with pytest.raises(SshKeyError, match="does not match the declared key type"):
        parse_public_key(f"ssh-rsa {ed25519_blob}")


def test_refuses_rsa_blob_declared_as_ed25519(rsa_line: str) -> None:
    blob = rsa_line.split()[1]
    with pytest.raises(SshKeyError, match="does not match the declared key type"):
        parse_public_key(f"ssh-ed25519 {blob}")


def test_refuses_ecdsa_blob_declared_with_another_curve(p256_blob: str) -> None:
    with pytest.raises(SshKeyError, match="does not match the declared key type"):
        parse_public_key(f"ecdsa-sha2-nistp384 {p256_blob}")


# --------------------------------------------------------------------------
# refused: control characters, size limits, empty input
# --------------------------------------------------------------------------


def test_refuses_a_trailing_newline(ed25519_line: str) -> None:
    with pytest.raises(SshKeyError, match="single line"):
        parse_public_key(ed25519_line + "\n")


def test_refuses_a_carriage_return(ed25519_line: str) -> None:
    with pytest.raises(SshKeyError, match="single line"):
        parse_public_key(ed25519_line + "\r")


def test_refuses_a_line_feed_inside_the_comment(ed25519_blob: str) -> None:
    with pytest.raises(SshKeyError, match="single line"):
        parse_public_key(f"ssh-ed25519 {ed25519_blob} laptop\nextra")


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("\x00", "U+0000"),
        ("\t", "U+0009"),
        ("\x1b", "U+001B"),
        ("\x7f", "U+007F"),
        ("\x85", "U+0085"),
        ("\u202e", "U+202E"),  # right-to-left override, disguises comments
        ("\u00a0", "U+00A0"),  # no-break space
    ],
)
@pytest.mark.parametrize("where", ["comment", "between fields", "start", "blob"])
def test_refuses_control_and_non_printable_characters_anywhere(
    ed25519_blob: str, char: str, code: str, where: str
) -> None:
    text = {
        "comment": f"ssh-ed25519 {ed25519_blob} lap{char}top",
        "between fields": f"ssh-ed25519{char}{ed25519_blob}",
        "start": f"{char}ssh-ed25519 {ed25519_blob}",
        "blob": f"ssh-ed25519 {ed25519_blob[:20]}{char}{ed25519_blob[20:]}",
    }[where]
    expected = re.escape(f"non-printable character ({code})")
    with pytest.raises(SshKeyError, match=expected):
        parse_public_key(text)


@pytest.mark.parametrize("text", ["", " ", "     "])
def test_refuses_empty_input(text: str) -> None:
    with pytest.raises(SshKeyError, match="No SSH key was provided"):
        parse_public_key(text)


def test_refuses_input_longer_than_16_kib(ed25519_line: str) -> None:
    text = ed25519_line + " " + "x" * (MAX_INPUT_LENGTH - len(ed25519_line))
    assert len(text) == MAX_INPUT_LENGTH + 1
    with pytest.raises(SshKeyError, match="too long"):
        parse_public_key(text)


def test_input_length_is_measured_in_utf8_bytes(ed25519_blob: str) -> None:
    text = f"ssh-ed25519 {ed25519_blob} " + "é" * (MAX_INPUT_LENGTH // 2)
    assert len(text) < MAX_INPUT_LENGTH < len(text.encode("utf-8"))
    with pytest.raises(SshKeyError, match="limit is 16384 bytes"):
        parse_public_key(text)


def test_refuses_comments_longer_than_255_characters(ed25519_blob: str) -> None:
    comment = "c" * (MAX_COMMENT_LENGTH + 1)
    with pytest.raises(SshKeyError, match="comment is too long"):
        parse_public_key(f"ssh-ed25519 {ed25519_blob} {comment}")
