"""Strict checks of an uploaded (or ACME-issued) certificate, key and chain before anything is stored or written.

Every rule gives a 422 naming the field (`certificate`, `private_key`, `chain`) and the rule:
- text only: at most 64 KiB per field, printable ASCII and LF; no CR, no other control character, nothing but
  whitespace outside the PEM blocks, no PEM headers (encrypted keys), base64 bodies only;
- the certificate field holds the leaf, optionally followed by its chain; the chain field more intermediates;
  at most MAX_CHAIN certificates in the chain;
- exactly one private key, unencrypted, RSA (2048 to 8192 bits) or EC (P-256, P-384), matching the leaf's key;
- the chain in order: each certificate's issuer is the next one's subject and its signature verifies with the
  next one's key;
- the leaf covers the hostname by a subjectAltName DNS entry (a wildcard matches one label only);
- every certificate already valid and not expired.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hostplane.errors import FieldProblem, InvalidInput

MAX_FIELD_BYTES = 64 * 1024
MAX_CHAIN = 6
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")

_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{1,40})-----\n(?P<body>(?:[^\n-][^\n]*\n)*?)-----END (?P=label)-----(?:\n|$)"
)
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]{1,76}={0,2}")
_ALLOWED_TEXT = re.compile(r"[\x20-\x7e\n\t]*")


@dataclass(frozen=True)
class ValidCertificate:
    """What passed the checks, normalised: PEM text as nginx and the database get it."""

    hostname: str
    certificate_pem: str
    chain_pem: str
    private_key_pem: bytes
    """PKCS#8, unencrypted: seal it before storing, write it only to the 0600 file."""
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint: str
    sans: tuple[str, ...]

    @property
    def fullchain_pem(self) -> str:
        return self.certificate_pem + self.chain_pem

    @property
    def files_id(self) -> str:
        return hashlib.sha256(self.fullchain_pem.encode()).hexdigest()[:40]


def _bad(field: str, message: str, rule: str = "invalid") -> InvalidInput:
    return InvalidInput(message, fields=[FieldProblem(field, message, rule)])


def pem_blocks(field: str, text: str) -> list[tuple[str, bytes]]:
    """The PEM blocks of a field as (label, DER), refusing anything else in it."""
    if len(text.encode("utf-8", errors="replace")) > MAX_FIELD_BYTES:
        raise _bad(field, f"This field is larger than {MAX_FIELD_BYTES // 1024} KiB.", "max")
    if "\r" in text:
        raise _bad(field, "Carriage returns are not allowed: use LF line endings.", "crlf")
    if not _ALLOWED_TEXT.fullmatch(text):
        raise _bad(field, "Only PEM text (printable ASCII) is allowed.", "charset")
    blocks: list[tuple[str, bytes]] = []
    position = 0
    for match in _BLOCK.finditer(text):
        if text[position : match.start()].strip():
            raise _bad(field, "Only PEM blocks are allowed: there is other text around them.", "pem")
        body = match.group("body")
        lines = body.splitlines()
        if any(":" in line for line in lines):
            raise _bad(field, "PEM headers are not allowed (an encrypted key must be decrypted first).", "pem")
        if not lines or not all(_BASE64_LINE.fullmatch(line.strip()) for line in lines):
            raise _bad(field, "A PEM block does not hold valid base64.", "pem")
        try:
            der = base64.b64decode("".join(line.strip() for line in lines), validate=True)
        except (binascii.Error, ValueError):
            raise _bad(field, "A PEM block does not hold valid base64.", "pem") from None
        blocks.append((match.group("label"), der))
        position = match.end()
    if text[position:].strip():
        raise _bad(field, "Only PEM blocks are allowed: there is other text around them.", "pem")
    return blocks


def parse_certificate(field: str, der: bytes) -> x509.Certificate:
    """A certificate whose every part parses: cryptography parses the extensions, names, key and validity lazily,
    when first used, and raises then (ValueError for a malformed subjectAltName, DuplicateExtension for a repeated
    one, UnsupportedAlgorithm...). All of them are touched here, so that such a certificate is refused naming its
    field, and nothing later (checks, storage, display) meets an exception."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        _ = certificate.extensions  # parses every extension: a malformed or repeated one raises here
        _ = certificate.subject.rfc4514_string(), certificate.issuer.rfc4514_string()
        _ = certificate.public_key()
        _ = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    except Exception:  # the parse errors of untrusted DER vary by part and by version of cryptography
        raise _bad(field, _unparsable(field), "pem") from None
    return certificate


def _unparsable(field: str) -> str:
    leaf, chain = "The certificate", "A certificate of the chain"
    what = {"certificate": leaf, "ssl_certificate": leaf, "chain": chain, "ssl_certificate_chain": chain}
    return f"{what.get(field, 'A certificate')} could not be parsed (a malformed or repeated extension, name or key)."


def _certificates(field: str, text: str) -> list[x509.Certificate]:
    certificates = []
    for label, der in pem_blocks(field, text):
        if label != "CERTIFICATE":
            raise _bad(field, f"Only CERTIFICATE blocks are allowed here, not {label}.", "pem")
        certificates.append(parse_certificate(field, der))
    return certificates


def _private_key(text: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    field = "private_key"
    blocks = pem_blocks(field, text)
    if len(blocks) != 1:
        raise _bad(field, "Exactly one private key is required.", "count")
    label, der = blocks[0]
    if label == "ENCRYPTED PRIVATE KEY":
        raise _bad(field, "The private key is encrypted: upload it without a passphrase.", "encrypted")
    if label not in KEY_LABELS:
        raise _bad(field, f"A private key is required, not {label}.", "pem")
    pem = f"-----BEGIN {label}-----\n{base64.encodebytes(der).decode()}-----END {label}-----\n".encode()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _bad(field, "The private key could not be parsed.", "pem") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise _bad(field, f"An RSA key must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits.", "key_size")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ALLOWED_CURVES):
            raise _bad(field, "An EC key must be on the P-256 or P-384 curve.", "key_type")
        return key
    raise _bad(field, "The key must be RSA (2048 bits or more) or EC (P-256 or P-384).", "key_type")


def _spki(key: object) -> bytes:
    public = getattr(key, "public_key", None)
    if public is None:  # pragma: no cover - every key type cryptography loads has it
        return b""
    public_key = public() if callable(public) else public
    return bytes(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def san_dns_names(certificate: x509.Certificate) -> list[str]:
    """The subjectAltName DNS entries as written, of a certificate parse_certificate accepted."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(extension.value.get_values_for_type(x509.DNSName))


def _dns_names(certificate: x509.Certificate) -> list[str]:
    return [name.lower() for name in san_dns_names(certificate)]


def leaf_dns_names(field: str, text: str) -> list[str]:
    """The DNS names of the first certificate of a field (lowercase); the field's blocks are checked as check()
    does, so a malformed one is refused naming the field."""
    for label, der in pem_blocks(field, text):
        if label == "CERTIFICATE":
            return _dns_names(parse_certificate(field, der))
    return []


def stored_dns_names(certificate_pem: str) -> tuple[str, ...]:
    """The DNS names of a stored certificate (check() accepted it), for display: () if it no longer parses."""
    try:
        return tuple(san_dns_names(parse_certificate("certificate", pem_blocks("certificate", certificate_pem)[0][1])))
    except (InvalidInput, IndexError):
        return ()


def covers(pattern: str, hostname: str) -> bool:
    """RFC 6125: exact match, or a `*.` wildcard standing for exactly one whole left-most label."""
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if pattern == hostname:
        return True
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    label, _, rest = hostname.partition(".")
    return bool(label) and bool(rest) and rest == pattern[2:] and rest.count(".") >= 1


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _check_times(field: str, certificate: x509.Certificate, now: dt.datetime, what: str) -> None:
    if certificate.not_valid_after_utc <= now:
        raise _bad(field, f"{what} has expired ({certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC).", "expired")
    if certificate.not_valid_before_utc > now:
        raise _bad(
            field, f"{what} is not valid yet (from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC).", "not_yet"
        )


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def check(
    hostname: str,
    certificate_pem: str,
    private_key_pem: str,
    chain_pem: str = "",
    *,
    now: dt.datetime | None = None,
) -> ValidCertificate:
    """Validate everything (see the module); raises InvalidInput naming the field and the rule."""
    now = now or dt.datetime.now(dt.UTC)
    leaf_and_more = _certificates("certificate", certificate_pem)
    if not leaf_and_more:
        raise _bad("certificate", "A certificate (a PEM CERTIFICATE block) is required.", "required")
    leaf, extra = leaf_and_more[0], leaf_and_more[1:]
    chain = extra + _certificates("chain", chain_pem)
    chain_field = "chain" if chain_pem.strip() else "certificate"
    if len(chain) > MAX_CHAIN:
        raise _bad(chain_field, f"The chain may hold at most {MAX_CHAIN} certificates.", "max")
    key = _private_key(private_key_pem)
    if _spki(key) != _spki(leaf):
        raise _bad("private_key", "The private key does not match the certificate.", "mismatch")
    names = _dns_names(leaf)
    if not any(covers(name, hostname) for name in names):
        listed = ", ".join(names) if names else "no DNS names"
        raise _bad("certificate", f"The certificate does not cover {hostname} (it names {listed}).", "hostname")
    _check_times("certificate", leaf, now, "The certificate")
    for position, (child, parent) in enumerate(zip([leaf, *chain], chain, strict=False)):
        if not _issued_by(child, parent):
            what = "the certificate" if position == 0 else f"chain certificate {position}"
            raise _bad(
                chain_field,
                f"The chain is not in order: {what} is not signed by the next one "
                "(give the intermediates from the one that signed the certificate up to the root).",
                "order",
            )
    for position, intermediate in enumerate(chain, start=1):
        _check_times(chain_field, intermediate, now, f"Chain certificate {position}")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ValidCertificate(
        hostname=hostname,
        certificate_pem=_pem(leaf),
        chain_pem="".join(_pem(item) for item in chain),
        private_key_pem=key_pem,
        issuer=leaf.issuer.rfc4514_string()[:1024],
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        sans=tuple(names),
    )
