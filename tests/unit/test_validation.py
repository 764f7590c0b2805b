"""The input grammars every edge relies on."""

import pytest

from hostplane import validation
from hostplane.errors import InvalidInput


@pytest.mark.parametrize("name", ["alice", "bob_smith", "web-01", "a23"])
def test_usernames_that_are_also_linux_user_names_are_accepted(name: str) -> None:
    assert validation.username(name) == name


def test_usernames_are_lowercased() -> None:
    assert validation.username("Alice") == "alice"


@pytest.mark.parametrize("name", ["ab", "1abc", "a" * 33, "al ice", "../etc", "al.ice", "alice\n", "root;rm", ""])
def test_bad_usernames_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validation.username(name)
    assert error.value.fields[0].field == "username"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Example.COM", "example.com"), ("bücher.de", "xn--bcher-kva.de"), ("www.example.com.", "www.example.com")],
)
def test_hostnames_are_normalised_to_lowercase_ascii(given: str, expected: str) -> None:
    assert validation.hostname(given) == expected


@pytest.mark.parametrize(
    "name",
    [
        "localhost",
        "-bad.com",
        "bad-.com",
        "a..b.com",
        "a_b.com",
        "../../etc/passwd",
        "ex ample.com",
        "x.com\r\n",
        "a" * 64 + ".com",
        "1.2.3.4",
        ("a" * 60 + ".") * 5 + "com",
        "exa\x00mple.com",
    ],
)
def test_bad_hostnames_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        validation.hostname(name)


def test_emails_keep_the_local_part_and_normalise_the_domain() -> None:
    assert validation.email("John.Doe+tag@Example.COM") == "john.doe+tag@example.com"


@pytest.mark.parametrize(
    "address",
    [
        "plain",
        "@example.com",
        "a@b",
        "a b@example.com",
        "a@example.com\r\nBcc: x@y.z",
        ".a@example.com",
        "a..b@example.com",
        "x" * 65 + "@example.com",
    ],
)
def test_bad_emails_are_refused(address: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validation.email(address)
    assert error.value.fields[0].field == "email"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("192.168.1.1", "192.168.1.1"),
        ("::1", "::1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
    ],
)
def test_ips_and_cidrs_are_canonicalised(given: str, expected: str) -> None:
    assert validation.ip_or_cidr(given, "allowed_ips.0") == expected


@pytest.mark.parametrize("value", ["300.1.1.1", "10.0.0.0/33", "example.com", "10.0.0.1\n", ""])
def test_bad_ips_are_refused_with_the_field_name(value: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validation.ip_or_cidr(value, "allowed_ips.3")
    assert error.value.fields[0].field == "allowed_ips.3"


@pytest.mark.parametrize("value", ["line\nbreak", "carriage\rreturn", "nul\x00", "esc\x1b[31m"])
def test_control_characters_are_refused_in_text(value: str) -> None:
    with pytest.raises(InvalidInput):
        validation.text(value, "description", max_length=100)


def test_text_longer_than_its_limit_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        validation.text("x" * 11, "name", max_length=10)
    assert error.value.fields[0].rule == "max"
