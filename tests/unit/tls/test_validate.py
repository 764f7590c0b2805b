"""The certificate rules: what an upload (or an ACME result) must satisfy before anything is stored or written.
Each refusal names the field and the rule."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from hostplane.errors import InvalidInput
from hostplane.tls import validate
from hostplane.tls.validate import check, covers
from tests.unit.tls.pki import DUPLICATE_SAN, MALFORMED_SAN, Pki, issue, issue_with_raw_sans, make_pki

HOST = "site.test"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def refusal(excinfo: pytest.ExceptionInfo[InvalidInput]) -> tuple[str, str]:
    problem = excinfo.value.fields[0]
    return problem.field, problem.rule


def test_a_leaf_with_its_key_and_ordered_chain_is_accepted_and_normalised(pki: Pki) -> None:
    leaf = pki.leaf(HOST, "www.site.test")
    valid = check(HOST, leaf.cert_pem, leaf.key_pem, pki.chain_pem)
    assert valid.certificate_pem == leaf.cert_pem
    assert valid.chain_pem == pki.chain_pem
    assert valid.fingerprint == hashlib.sha256(leaf.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert valid.sans == (HOST, "www.site.test")
    assert "Test Intermediate CA" in valid.issuer
    assert valid.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")


def test_a_full_chain_in_the_certificate_field_counts_as_leaf_plus_chain(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    valid = check(HOST, leaf.cert_pem + pki.chain_pem, leaf.key_pem)
    assert valid.certificate_pem == leaf.cert_pem
    assert valid.chain_pem == pki.chain_pem


def test_a_self_signed_certificate_without_chain_is_accepted() -> None:
    own = issue(HOST, names=[HOST])
    assert check(HOST, own.cert_pem, own.key_pem).chain_pem == ""


def test_traditional_rsa_and_ec_key_formats_are_accepted_and_stored_as_pkcs8(pki: Pki) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = pki.leaf(HOST, key=rsa_key)
    traditional = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    assert traditional.startswith("-----BEGIN RSA PRIVATE KEY-----")
    valid = check(HOST, leaf.cert_pem, traditional, pki.chain_pem)
    assert valid.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_a_key_that_does_not_match_the_certificate_is_refused(pki: Pki) -> None:
    leaf, other = pki.leaf(HOST), pki.leaf(HOST)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, other.key_pem, pki.chain_pem)
    assert refusal(excinfo) == ("private_key", "mismatch")


def test_an_expired_certificate_is_refused(pki: Pki) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = pki.leaf(HOST, not_before=now - dt.timedelta(days=100), not_after=now - dt.timedelta(days=1))
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, pki.chain_pem)
    assert refusal(excinfo) == ("certificate", "expired")


def test_a_certificate_not_valid_yet_is_refused(pki: Pki) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = pki.leaf(HOST, not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=90))
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, pki.chain_pem)
    assert refusal(excinfo) == ("certificate", "not_yet")


def test_an_expired_intermediate_is_refused() -> None:
    now = dt.datetime.now(dt.UTC)
    root = issue("Root", ca=True)
    old = issue("Old Intermediate", issuer=root, ca=True, not_after=now - dt.timedelta(hours=1))
    leaf = issue(HOST, issuer=old, names=[HOST])
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, old.cert_pem)
    assert refusal(excinfo) == ("chain", "expired")


def test_a_certificate_for_another_hostname_is_refused(pki: Pki) -> None:
    leaf = pki.leaf("other.test")
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, pki.chain_pem)
    assert refusal(excinfo) == ("certificate", "hostname")
    assert "other.test" in excinfo.value.detail


def test_a_common_name_without_subject_alt_names_does_not_cover_the_hostname(pki: Pki) -> None:
    leaf = issue(HOST, issuer=pki.intermediate)  # CN=site.test, no SAN
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, pki.chain_pem)
    assert refusal(excinfo) == ("certificate", "hostname")


@pytest.mark.parametrize(
    ("pattern", "hostname", "expected"),
    [
        ("site.test", "site.test", True),
        ("SITE.test", "site.test", True),
        ("*.site.test", "www.site.test", True),
        ("*.site.test", "site.test", False),
        ("*.site.test", "a.b.site.test", False),
        ("*.test", "site.test", False),
        ("w*.site.test", "www.site.test", False),
        ("*.*.test", "a.b.test", False),
        ("site.test", "www.site.test", False),
    ],
)
def test_a_wildcard_covers_exactly_one_left_most_label(pattern: str, hostname: str, expected: bool) -> None:
    assert covers(pattern, hostname) is expected


def test_a_wildcard_certificate_is_accepted_for_a_subdomain(pki: Pki) -> None:
    leaf = pki.leaf("*.site.test")
    assert check("blog.site.test", leaf.cert_pem, leaf.key_pem, pki.chain_pem).sans == ("*.site.test",)


def test_a_chain_out_of_order_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    reversed_chain = pki.root.cert_pem + pki.intermediate.cert_pem
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, reversed_chain)
    assert refusal(excinfo) == ("chain", "order")


def test_an_intermediate_with_the_right_name_but_another_key_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    impostor = issue("Test Intermediate CA", ca=True)  # same subject, self-signed with its own key
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, impostor.cert_pem)
    assert refusal(excinfo) == ("chain", "order")


def test_a_chain_longer_than_the_limit_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    chain = pki.chain_pem * (validate.MAX_CHAIN // 2 + 1)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, chain)
    assert refusal(excinfo) == ("chain", "max")


def test_a_field_over_64_kib_is_refused_before_parsing(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    padded = leaf.cert_pem + "\n" * (validate.MAX_FIELD_BYTES + 1)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, padded, leaf.key_pem)
    assert refusal(excinfo) == ("certificate", "max")


@pytest.mark.parametrize("field", ["certificate", "private_key", "chain"])
def test_carriage_returns_are_refused_in_every_field(pki: Pki, field: str) -> None:
    leaf = pki.leaf(HOST)
    values = {"certificate": leaf.cert_pem, "private_key": leaf.key_pem, "chain": pki.chain_pem}
    values[field] = values[field].replace("\n", "\r\n")
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, values["certificate"], values["private_key"], values["chain"])
    assert refusal(excinfo) == (field, "crlf")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda pem: "Bag Attributes\n    friendlyName: site\n" + pem,
        lambda pem: pem + "trailing text\n",
        lambda pem: pem.replace("-----END CERTIFICATE-----", "-----END CERTIFICATE----- x"),
        lambda pem: pem.replace("\n", "\n!", 1),
        lambda pem: pem.replace("-----END CERTIFICATE-----", "-----END PRIVATE KEY-----"),
        lambda pem: pem[: len(pem) // 2],
    ],
    ids=["text-before", "text-after", "junk-on-end-line", "bad-base64", "mismatched-labels", "truncated"],
)
def test_text_outside_or_inside_pem_blocks_that_is_not_pem_is_refused(pki: Pki, mangle: object) -> None:
    leaf = pki.leaf(HOST)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, mangle(leaf.cert_pem), leaf.key_pem)  # type: ignore[operator]
    assert refusal(excinfo)[0] == "certificate"


@pytest.mark.parametrize("garbage", ["", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_garbage_instead_of_a_certificate_is_refused(pki: Pki, garbage: str) -> None:
    leaf = pki.leaf(HOST)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, garbage, leaf.key_pem)
    assert refusal(excinfo)[0] == "certificate"


def test_control_characters_are_refused(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem + "\x00", leaf.key_pem)
    assert refusal(excinfo) == ("certificate", "charset")


def test_a_key_block_in_the_certificate_field_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem + leaf.key_pem, leaf.key_pem)
    assert refusal(excinfo) == ("certificate", "pem")


def test_two_private_keys_are_refused(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem + leaf.key_pem)
    assert refusal(excinfo) == ("private_key", "count")


def test_an_encrypted_private_key_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    encrypted = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, encrypted)
    assert refusal(excinfo) == ("private_key", "encrypted")


def test_an_rsa_key_under_2048_bits_is_refused(pki: Pki) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaf = pki.leaf(HOST, key=small)
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, pki.chain_pem)
    assert refusal(excinfo) == ("private_key", "key_size")


def test_an_ec_key_on_another_curve_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(HOST, key=ec.generate_private_key(ec.SECP521R1()))
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, leaf.cert_pem, leaf.key_pem, pki.chain_pem)
    assert refusal(excinfo) == ("private_key", "key_type")


def test_an_ed25519_key_is_refused() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    own = issue(HOST, names=[HOST])
    with pytest.raises(InvalidInput) as excinfo:
        check(HOST, own.cert_pem, pem)
    assert refusal(excinfo) == ("private_key", "key_type")


# --- certificates whose extensions only fail when read --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_sans", "names"),
    [([DUPLICATE_SAN], [HOST]), ([MALFORMED_SAN], []), ([MALFORMED_SAN], [HOST]), ([DUPLICATE_SAN, MALFORMED_SAN], [])],
    ids=["duplicated", "malformed", "malformed-after-a-good-one", "both"],
)
def test_a_certificate_with_a_bad_subject_alt_name_is_refused_naming_the_field(
    pki: Pki, raw_sans: list[bytes], names: list[str]
) -> None:
    leaf = issue_with_raw_sans(HOST, raw_sans, issuer=pki.intermediate, names=names)
    with pytest.raises((x509.DuplicateExtension, ValueError)):
        _ = leaf.certificate.extensions  # what used to escape as a 500
    with pytest.raises(InvalidInput) as error:
        validate.check(HOST, leaf.cert_pem, leaf.key_pem, pki.chain_pem)
    assert (error.value.fields[0].field, error.value.fields[0].rule) == ("certificate", "pem")
    with pytest.raises(InvalidInput) as error:
        validate.leaf_dns_names("ssl_certificate", leaf.cert_pem)
    assert error.value.fields[0].field == "ssl_certificate"
    assert validate.stored_dns_names(leaf.cert_pem) == ()


def test_a_chain_certificate_with_a_malformed_extension_is_refused_naming_the_chain(pki: Pki) -> None:
    leaf = pki.leaf(HOST)
    bad_intermediate = issue_with_raw_sans("Bad CA", [MALFORMED_SAN], issuer=pki.root, names=[])
    with pytest.raises(InvalidInput) as error:
        validate.check(HOST, leaf.cert_pem, leaf.key_pem, bad_intermediate.cert_pem + pki.root.cert_pem)
    assert (error.value.fields[0].field, error.value.fields[0].rule) == ("chain", "pem")


def test_the_names_of_a_good_certificate_are_read_as_written(pki: Pki) -> None:
    leaf = pki.leaf("Site.Test", "www.site.test")
    assert validate.leaf_dns_names("certificate", leaf.cert_pem) == ["site.test", "www.site.test"]
    assert validate.stored_dns_names(leaf.cert_pem) == ("Site.Test", "www.site.test")
    assert validate.stored_dns_names("not a certificate") == ()
