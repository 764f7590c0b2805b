"""Specification of hostplane.auth.totp: RFC 6238 codes, the match window, enrolment helpers."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import urllib.parse
from datetime import UTC, datetime

import pytest

from hostplane.auth import totp

# RFC 6238 Appendix B uses this ASCII key for its SHA1 vectors.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")

# (Unix time, 8-digit SHA1 code) from RFC 6238 Appendix B.
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A fixed moment for match-window tests, so they never race the clock.
NOW = 1111111111.0


def oathtool(secret: str, *extra: str) -> str:
    """Ask the reference implementation for a TOTP code (argv list, no shell)."""
    result = subprocess.run(
        ["oathtool", "--totp", "-b", *extra, secret],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    )
    return result.stdout.strip()


# --- constants and time steps -------------------------------------------------


def test_steps_are_thirty_seconds_and_codes_six_digits() -> None:
    assert totp.STEP_SECONDS == 30
    assert totp.DIGITS == 6


def test_current_step_is_unix_time_divided_by_thirty() -> None:
    assert totp.current_step(0) == 0
    assert totp.current_step(29.999) == 0
    assert totp.current_step(30) == 1
    assert totp.current_step(59) == 1
    assert totp.current_step(1111111111) == 37037037


# --- codes: RFC 6238 and oathtool agree with code_at ----------------------------


@pytest.mark.parametrize(("unix_time", "rfc_code"), RFC_VECTORS)
def test_code_at_matches_rfc6238_sha1_vectors(unix_time: int, rfc_code: str) -> None:
    # The RFC prints 8 digits; a 6-digit code is the same number mod 10**6.
    assert totp.code_at(RFC_SECRET, totp.current_step(unix_time)) == rfc_code[-6:]


@pytest.mark.parametrize("unix_time", [t for t, _ in RFC_VECTORS] + [1700000000, 1700000029])
def test_code_at_matches_oathtool_at_fixed_times(unix_time: int) -> None:
    when = datetime.fromtimestamp(unix_time, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    for secret in (RFC_SECRET, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"):
        expected = oathtool(secret, "--now", when)
        assert totp.code_at(secret, totp.current_step(unix_time)) == expected


def test_code_at_matches_oathtool_now_for_a_fresh_secret() -> None:
    secret = totp.new_secret()
    before = totp.current_step(time.time())
    code = oathtool(secret)
    after = totp.current_step(time.time())
    # The clock may tick over a step boundary while oathtool runs.
    assert code in {totp.code_at(secret, step) for step in range(before, after + 1)}


def test_codes_are_six_ascii_digits_with_leading_zeros_kept() -> None:
    # RFC vector at 1111111109 is ...081804: the leading zero must survive.
    code = totp.code_at(RFC_SECRET, totp.current_step(1111111109))
    assert code == "081804"
    for step in range(200):
        code = totp.code_at(RFC_SECRET, step)
        assert len(code) == 6 and code.isascii() and code.isdigit()


# --- match_step: current step and one back, nothing else -----------------------


def test_match_step_accepts_the_current_step() -> None:
    step = totp.current_step(NOW)
    assert totp.match_step(RFC_SECRET, totp.code_at(RFC_SECRET, step), NOW) == step


def test_match_step_accepts_one_step_back() -> None:
    step = totp.current_step(NOW)
    code = totp.code_at(RFC_SECRET, step - 1)
    assert totp.match_step(RFC_SECRET, code, NOW) == step - 1


def test_match_step_accepts_one_step_back_right_after_a_boundary() -> None:
    boundary = 30.0 * 37037040
    code = totp.code_at(RFC_SECRET, 37037039)
    assert totp.match_step(RFC_SECRET, code, boundary) == 37037039
    assert totp.match_step(RFC_SECRET, code, boundary + 29.9) == 37037039
    assert totp.match_step(RFC_SECRET, code, boundary + 30) is None


def test_match_step_refuses_two_steps_back() -> None:
    step = totp.current_step(NOW)
    code = totp.code_at(RFC_SECRET, step - 2)
    assert code not in {totp.code_at(RFC_SECRET, s) for s in (step, step - 1)}
    assert totp.match_step(RFC_SECRET, code, NOW) is None


def test_match_step_refuses_one_step_forward() -> None:
    step = totp.current_step(NOW)
    code = totp.code_at(RFC_SECRET, step + 1)
    assert code not in {totp.code_at(RFC_SECRET, s) for s in (step, step - 1)}
    assert totp.match_step(RFC_SECRET, code, NOW) is None


def test_match_step_refuses_a_code_for_another_secret() -> None:
    other = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    step = totp.current_step(NOW)
    code = totp.code_at(other, step)
    assert code not in {totp.code_at(RFC_SECRET, s) for s in (step, step - 1)}
    assert totp.match_step(RFC_SECRET, code, NOW) is None


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", " 123456", "１２３４５６", ""])
def test_match_step_refuses_malformed_codes(code: str) -> None:
    assert totp.match_step(RFC_SECRET, code, NOW) is None


def test_match_step_refuses_malformed_variants_of_the_right_code() -> None:
    step = totp.current_step(NOW)
    code = totp.code_at(RFC_SECRET, step)
    full_width = "".join(chr(ord(c) - ord("0") + ord("０")) for c in code)
    variants = [code[:5], code + "0", " " + code, code + " ", code + "\n", full_width]
    for variant in variants:
        assert totp.match_step(RFC_SECRET, variant, NOW) is None, repr(variant)


# --- enrolment: secrets, URI, QR ------------------------------------------------


def test_new_secret_is_32_base32_chars_of_160_bits() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(base64.b32decode(secret)) == 20


def test_new_secret_differs_between_calls() -> None:
    secrets = {totp.new_secret() for _ in range(20)}
    assert len(secrets) == 20


def test_otpauth_uri_carries_secret_and_issuer() -> None:
    secret = totp.new_secret()
    uri = totp.otpauth_uri(secret, "alice@example.com", "Hostplane")
    parts = urllib.parse.urlparse(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert urllib.parse.unquote(parts.path) == "/Hostplane:alice@example.com"
    query = urllib.parse.parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Hostplane"]


def test_qr_png_data_url_is_an_inline_png() -> None:
    uri = totp.otpauth_uri(totp.new_secret(), "alice@example.com", "Hostplane")
    data_url = totp.qr_png_data_url(uri)
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    png = base64.b64decode(data_url[len(prefix) :], validate=True)
    assert png.startswith(PNG_SIGNATURE)
