"""The input grammars every edge relies on."""

import datetime as dt

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


# --- one domain-name grammar ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xn--zz.com", "mail.xn--zz.example", "xn--a.de", "x" * 301])
def test_every_domain_name_check_refuses_invalid_punycode_and_overlong_input(name: str) -> None:
    for check in (validation.domain_name, validation.hostname):
        with pytest.raises(InvalidInput):
            check(name)
    with pytest.raises(InvalidInput):
        validation.email(f"admin@{name}")
    assert validation.domain_to_look_up(name) is None


def test_the_domain_name_check_names_the_field_it_is_given() -> None:
    with pytest.raises(InvalidInput) as error:
        validation.domain_name("xn--zz.com", "preferred_domain")
    assert error.value.fields[0].field == "preferred_domain"


def test_a_name_to_look_up_gets_the_stored_form() -> None:
    assert validation.domain_to_look_up(" Bücher.DE. ") == "xn--bcher-kva.de"


# --- bounded integers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"), [("1", 1), (" 42 ", 42), (str(validation.MAX_ID), validation.MAX_ID), (7, 7)]
)
def test_ids_within_the_column_range_are_accepted(given: str | int, expected: int) -> None:
    assert validation.identifier(given, "id") == expected


@pytest.mark.parametrize(
    "given",
    ["0", "-1", str(2**31), str(2**63), str(2**64), "9" * 30, "9" * 5000, "", "1.0", "1e3", "0x10", "+1", "١", True],
)
def test_ids_out_of_range_or_not_numbers_are_refused_naming_the_field(given: str | int) -> None:
    with pytest.raises(InvalidInput) as error:
        validation.identifier(given, "domain_id")
    assert error.value.fields[0].field == "domain_id"


def test_the_id_bound_is_what_a_postgresql_integer_column_holds() -> None:
    assert validation.MAX_ID == validation.MAX_INT == 2**31 - 1


# --- dates --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(-dt.timedelta(hours=14))),
        dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=14))),
        dt.datetime(9000, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2030, 1, 1),
    ],
    ids=["overflows-to-utc", "underflows-to-utc", "year-9000", "no-zone"],
)
def test_dates_that_overflow_or_are_too_far_or_lack_a_zone_are_refused(given: dt.datetime) -> None:
    with pytest.raises(InvalidInput) as error:
        validation.moment(given, "expires_at")
    assert error.value.fields[0].field == "expires_at"


def test_a_date_is_given_back_in_utc() -> None:
    given = dt.datetime(2030, 1, 1, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert validation.moment(given, "expires_at") == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert validation.moment(given, "expires_at").tzinfo == dt.UTC


@pytest.mark.parametrize("given", ["99999999999999", str(validation.MAX_UNIX_TIME), "-1", "1e10", "", "12.5"])
def test_unix_times_beyond_year_9000_or_not_numbers_are_refused(given: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validation.unix_time(given, "expires_at")
    assert error.value.fields[0].field == "expires_at"


def test_the_last_unix_time_before_year_9000_is_accepted() -> None:
    assert validation.unix_time(str(validation.MAX_UNIX_TIME - 1), "expires_at").year == validation.MAX_YEAR - 1
