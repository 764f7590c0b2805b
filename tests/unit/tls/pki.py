"""A small test PKI made with `cryptography`: a root CA, an intermediate, leaves for chosen names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(
    subject: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    names: list[str] | None = None,
    key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A certificate for `subject`, signed by `issuer` (self-signed without one)."""
    key = key or ec_key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.certificate.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    root: Issued
    intermediate: Issued

    def leaf(self, *names: str, **kwargs: object) -> Issued:
        return issue(names[0] if names else "leaf", issuer=self.intermediate, names=list(names), **kwargs)  # type: ignore[arg-type]

    @property
    def chain_pem(self) -> str:
        """Intermediate then root: each signed by the next."""
        return self.intermediate.cert_pem + self.root.cert_pem


def make_pki(label: str = "Test") -> Pki:
    root = issue(f"{label} Root CA", ca=True)
    intermediate = issue(f"{label} Intermediate CA", issuer=root, ca=True)
    return Pki(root, intermediate)


# --- certificates cryptography's builder refuses to make -------------------------------------------------------

SAN_OID_DER = b"\x06\x03\x55\x1d\x11"
"""2.5.29.17, subjectAltName, as DER."""
DUPLICATE_SAN = x509.SubjectAlternativeName([x509.DNSName("site.test")]).public_bytes()
MALFORMED_SAN = b"\x30\x03\x82\x01"
"""A GeneralNames SEQUENCE whose DNS name is cut short."""


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _children(der: bytes) -> list[bytes]:
    """The encoded elements of a DER SEQUENCE."""

    def header(at: int) -> tuple[int, int]:
        size, at = der[at + 1], at + 2
        if size & 0x80:
            count = size & 0x7F
            size, at = int.from_bytes(der[at : at + count], "big"), at + count
        return at, size

    start, size = header(0)
    elements, at = [], start
    while at < start + size:
        content, length = header(at)
        elements.append(der[at : content + length])
        at = content + length
    return elements


def issue_with_raw_sans(subject: str, raw_sans: list[bytes], *, issuer: Issued, names: list[str]) -> Issued:
    """A leaf signed by `issuer` whose subjectAltName extensions are `names` (a normal one, if any) plus one more
    for each raw DER value: a duplicated or malformed subjectAltName, which cryptography only notices when the
    extensions are first read. Made with placeholder extension OIDs of the same length, renamed to
    subjectAltName in the signed part, which is then signed again."""
    placeholders = [x509.ObjectIdentifier(f"2.5.29.{99 - index}") for index in range(len(raw_sans))]
    key = ec_key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    for placeholder, raw in zip(placeholders, raw_sans, strict=True):
        builder = builder.add_extension(x509.UnrecognizedExtension(placeholder, raw), critical=False)
    template = builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    tbs, algorithm, _signature = _children(template)
    for placeholder in placeholders:
        oid_der = _der(0x06, bytes([0x55, 0x1D, int(placeholder.dotted_string.rsplit(".", 1)[1])]))
        assert tbs.count(oid_der) == 1
        tbs = tbs.replace(oid_der, SAN_OID_DER)
    signer = issuer.key
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    certificate = x509.load_der_x509_certificate(_der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature)))
    return Issued(certificate, key)
