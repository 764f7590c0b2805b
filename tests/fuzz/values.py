"""Hostile and well-formed values for generated requests: the strings, numbers and JSON documents that break
parsers, and the known-good names and secrets of the fuzz world that get requests past validation."""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

from hypothesis import strategies as st

NASTY: dict[str, tuple[str, ...]] = {
    "blank": ("", " ", "\t", "\u00a0", "\u3000"),
    "number-like": ("0", "-1", "1", "00", "+1", "1.5", "1e3", "1e309", "-0", "NaN", "Infinity", "0x10", " 7 ", "1_000"),
    "json-like": ("null", "true", "[]", "{}", '{"a":1}', "[1,2]"),
    "wide ints": (str(2**31 - 1), str(2**31), str(2**32), str(2**53 + 1), str(2**63 - 1), str(-(2**63)), "9" * 12),
    # str.isdigit() says yes to all of these, int() only to some
    "unicode digits": ("²", "12³", "١٢٣", "𝟗", "①", "Ⅻ", "½", "٣", "߁", "᠑"),
    "control": ("a\r\nb", "\r\n", "\n", "x\n", "\r", "\x00", "a\x00b", "\x1b[31m", "\x7f", "\x01", "\t\t"),
    "unicode breaks": ("\u0085", "\u2028", "\u2029", "\ufeff", "\u202e", "\u200b", "\ufffd", "\uffff"),
    # only JSON carries them as text; in forms, queries and headers they go out as invalid UTF-8 bytes
    "surrogates": ("\ud800", "a\udfff", "\udbff\udfff"),
    "case and normalisation": ("ß", "İ", "ı", "ﬀ", "\u212a", "Ａ", "e\u0301", "💩", "ǅ", "Σ", "ﬃ"),
    "paths and escapes": (
        "../../etc/passwd",
        "..",
        ".",
        "/",
        "//",
        "\\",
        "%00",
        "%2e%2e%2f",
        "%",
        "%ZZ",
        "+",
        "&",
        "=",
        "?",
        "#",
        ";",
        ",",
        ":",
        "@",
        "'",
        '"',
        "`",
        "*",
        "~",
        "|",
        "$",
        "<",
        ">",
    ),
    "injections": (
        "<script>alert(1)</script>",
        "${jndi:ldap://x}",
        "{{7*7}}",
        "'; DROP TABLE users; --",
        "%s%s%n",
        "\\u0000",
        "-----BEGIN",
        "include /etc/passwd;",
        "}\nserver {",
        "x;\nreturn 200;",
    ),
    "long": ("A" * 256, "A" * 4097, "é" * 2000, "A" * 70000, "a." * 200 + "com", "x" * 64),
    "names": (
        "xn--",
        "xn--zz",
        "xn--bcher-kva.de",
        "bücher.de",
        "a.b",
        "-a.b",
        "a-.b",
        "a..b",
        ".a",
        "a.",
        "localhost",
        "example.123",
        "x" * 63 + ".com",
        "x" * 64 + ".com",
        ("a" * 63 + ".") * 4 + "com",
        "*.example.com",
        "_dmarc.example.com",
        "EXAMPLE.COM.",
        "ex ample.com",
        "example.com:80",
    ),
    "addresses": (
        "127.0.0.1",
        "::1",
        "0.0.0.0/0",
        "::/0",
        "10.0.0.0/33",
        "fe80::1%eth0",
        "::ffff:1.2.3.4",
        "1.2.3",
        "256.1.1.1",
        "::ffff:0:0/96",
        "2001:db8::/129",
        " 1.2.3.4 ",
    ),
    "people": ("root", "admin", "alice", " ALICE ", "alice@example.com", "a@b@c", "@", "a@", "@b.c", '"a b"@c.d'),
    "keys and certificates": (
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\n\n-----END PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----\n" + "A" * 64 + "\n-----END CERTIFICATE-----",
        "ssh-ed25519 AAAA",
        "ssh-rsa AAAAB3NzaC1yc2E= x",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x",
        "SHA256:" + "A" * 43,
        "MD5:00:11",
    ),
    "sessions and urls": (
        "cpsess0000000000",
        "/cpsess0000000000/",
        "//evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\\evil",
        "/%0d%0aSet-Cookie:x=y",
        "hp_",
        "hp_" + "A" * 40,
        "Bearer",
        "whm :",
    ),
}
"""Hostile strings by class; each class is drawn about as often as the others, whatever its size."""

NASTY_STRINGS: tuple[str, ...] = tuple(value for group in NASTY.values() for value in group)

HUGE_INTS: tuple[int, ...] = (
    -(2**63) - 1,
    -(2**63),
    -(2**31) - 1,
    -1,
    0,
    2**31 - 1,
    2**31,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    10**30,
    10**400,
)


@cache
def nasty_text() -> st.SearchStrategy[str]:
    """Any string a client could send: the classics above, random Unicode (surrogates and controls included),
    and numbers of every size written as text."""
    return st.one_of(
        *[st.sampled_from(group) for group in NASTY.values()],
        st.text(max_size=24),
        st.text(st.characters(codec=None, categories=None), max_size=12),
        st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=24),
        st.sampled_from(HUGE_INTS).map(str),
        st.integers(min_value=-1000, max_value=1000).map(str),
    )


@cache
def text_or(*good: Any) -> st.SearchStrategy[Any]:
    """A known-good value most of the time, otherwise anything."""
    if not good:
        return nasty_text()
    return st.one_of(st.sampled_from(good), st.sampled_from(good), nasty_text())


@cache
def json_scalar() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(HUGE_INTS),
        st.floats(allow_nan=False, allow_infinity=False),
        nasty_text(),
    )


@cache
def json_value(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """JSON of any shape, nested a few levels (deep nesting is a raw-body variant of its own)."""
    return st.recursive(
        json_scalar(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.one_of(nasty_text(), st.just("")), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


@cache
def wrong_type() -> st.SearchStrategy[Any]:
    """A JSON value of a type a string field never is."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(HUGE_INTS),
        st.floats(allow_nan=False),
        st.lists(json_scalar(), max_size=3),
        st.dictionaries(st.text(max_size=5), json_scalar(), max_size=3),
    )


RAW_BODIES: tuple[tuple[bytes, str | None], ...] = (
    (b"", "application/json"),
    (b"{", "application/json"),
    (b"null", "application/json"),
    (b"[]", "application/json"),
    (b'"text"', "application/json"),
    (b"1e999", "application/json"),
    (b'{"a": NaN, "b": Infinity}', "application/json"),
    (b'{"password": "\\ud800"}', "application/json"),
    (b'{"name": "a", "name": "b"}', "application/json"),
    (b"\xff\xfe\x00{", "application/json"),
    (b"\xef\xbb\xbf{}", "application/json"),
    (b"{}", "application/json; charset=latin-1"),
    (b"{}", "text/plain"),
    (b"{}", None),
    (b"{}", "application/vnd.api+json"),
    (b"a=1&b=2", "application/x-www-form-urlencoded"),
    (b"a=%FF%FE&b=%", "application/x-www-form-urlencoded"),
    (b"=&&==&" * 20, "application/x-www-form-urlencoded"),
    (b"&".join(b"k%d=v" % i for i in range(400)), "application/x-www-form-urlencoded"),
    (b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n', "multipart/form-data; boundary=x"),
    (b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n', "multipart/form-data; boundary=x"),
    (b"garbage", "multipart/form-data"),
    (b"garbage", "multipart/form-data; boundary="),
    (
        b'--x\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n\xff\xfe\xfd\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
    ),
    (b"\x00" * 64, "application/octet-stream"),
    (b"A" * 200_000, "application/json"),
    (b"<?xml version='1.0'?><a/>", "application/xml"),
)
"""Bodies no schema describes: broken JSON, wrong encodings, odd forms and multipart documents."""


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


SSH_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-dss",
    "sk-ssh-ed25519@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-foo",
)


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


@cache
def ssh_key_text() -> st.SearchStrategy[str]:
    """OpenSSH public key lines whose blob is garbage, truncated, or well framed with a wrong or short body."""
    framed = st.builds(
        lambda key_type, body, declared: (
            (declared or len(key_type.encode())).to_bytes(4, "big") + key_type.encode() + _ssh_string(body)
        ),
        st.sampled_from(SSH_TYPES),
        st.binary(max_size=80),
        st.one_of(st.just(0), st.integers(0, 2**32 - 1)),
    )
    blob = st.one_of(st.binary(max_size=120), framed)
    return st.builds(
        lambda key_type, data, comment: f"{key_type} {base64.b64encode(data).decode()}{comment}",
        st.sampled_from(SSH_TYPES),
        blob,
        st.sampled_from(("", " fuzz", " a b c", " " + "c" * 300, "\tx", " é")),
    )


PEM_LABELS = (
    "CERTIFICATE",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "PUBLIC KEY",
    "X509 CRL",
    "TRUSTED CERTIFICATE",
)


@cache
def pem_text() -> st.SearchStrategy[str]:
    """PEM blocks around random DER, with odd labels, broken armour, or several blocks."""
    block = st.builds(
        lambda label, der, end: f"-----BEGIN {label}-----\n{base64.encodebytes(der).decode()}-----END {end}-----\n",
        st.sampled_from(PEM_LABELS),
        st.binary(max_size=300),
        st.sampled_from(PEM_LABELS),
    )
    return st.one_of(
        block,
        st.lists(block, min_size=2, max_size=3).map("".join),
        block.map(lambda text: text.replace("-----\n", "-----")),
        block.map(lambda text: text.replace("\n", "\r\n")),
    )
