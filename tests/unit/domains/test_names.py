"""The grammar of domain names: normalised to lowercase IDNA ASCII, and nothing that could reach a folder or a
config line other than as a plain name."""

from __future__ import annotations

import pytest

from hostplane.errors import InvalidInput
from hostplane.validation import domain_name, unicode_form

LABEL_63 = "a" * 63
LONGEST = ".".join([LABEL_63, LABEL_63, LABEL_63, "b" * 57, "com"])  # 253 characters


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("  example.com ", "example.com"),
        ("Bücher.DE", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("example\u3002com", "example.com"),
        ("shop.example.co.uk", "shop.example.co.uk"),
    ],
)
def test_a_domain_is_stored_lowercase_in_its_idna_ascii_form(given: str, stored: str) -> None:
    assert domain_name(given) == stored


def test_an_internationalised_name_keeps_a_unicode_form_for_display() -> None:
    assert unicode_form(domain_name("Bücher.de")) == "bücher.de"


def test_the_longest_valid_name_is_accepted() -> None:
    assert len(LONGEST) == 253
    assert domain_name(LONGEST) == LONGEST


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        "localhost",
        "com",
        "..",
        "../etc",
        "../../etc/passwd",
        "example.com/../../etc",
        "example.com/",
        "a..example.com",
        ".example.com",
        "example.com\r\nHost: evil.test",
        "example.com\n",
        "exa\rmple.com",
        "example.com\x00.evil",
        "example.com\t",
        "ex ample.com",
        "example.com;",
        "example.com { return 200; }",
        'example.com"',
        "example.com'",
        "$host.example.com",
        "*.example.com",
        "_dmarc.example.com",
        "example.com:80",
        "http://example.com",
        "user@example.com",
        "example\\com",
        "-example.com",
        "example-.com",
        LABEL_63 + "a.com",
        "a" + LONGEST,
        "1.2.3.4",
        "[::1]",
        "xn--zz.com",
        "x" * 400 + ".com",
    ],
)
def test_a_name_that_is_not_a_plain_domain_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain_name(bad)
    assert caught.value.fields[0].field == "name"
