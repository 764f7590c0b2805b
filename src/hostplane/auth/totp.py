"""Time-based one-time passwords (RFC 6238) for second-factor login.

Pure logic only: no storage, and no clock: the caller says what time it is. Replay
protection (refusing a step that was already used) belongs to the caller,
which records the matched step with an atomic database update.
"""

from __future__ import annotations

import base64
import hmac
import secrets

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6

# 160 bits is the HMAC-SHA1 output size, the key length RFC 4226 recommends.
_SECRET_BYTES = 20


def new_secret() -> str:
    """Return a fresh base32 secret (no padding) that authenticator apps accept."""
    raw = secrets.token_bytes(_SECRET_BYTES)
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def otpauth_uri(secret: str, account_name: str, issuer: str) -> str:
    """Return the ``otpauth://`` URI apps scan; the issuer labels the entry."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    return totp.provisioning_uri(name=account_name, issuer_name=issuer)


def qr_png_data_url(uri: str) -> str:
    """Render ``uri`` as a PNG QR code inline, so no image file is ever stored."""
    qr = segno.make_qr(uri)
    return qr.png_data_uri(scale=5)


def current_step(now: float) -> int:
    """Return the RFC 6238 time step (counter) for ``now`` (Unix seconds)."""
    return int(now // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    """Return the 6-digit HMAC-SHA1 code for a time step (HOTP with counter=step)."""
    return pyotp.HOTP(secret, digits=DIGITS).at(step)


def _well_formed(code: str) -> bool:
    """Accept exactly six ASCII digits; ``str.isdigit`` alone allows other scripts."""
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def match_step(secret: str, code: str, now: float) -> int | None:
    """Return the step ``code`` belongs to, or ``None``.

    Only the current step and the one before it are tried: one step back
    tolerates a code typed just before it rolled over, while never looking
    forward or further back keeps the window for guessing small.
    """
    if not _well_formed(code):
        return None
    step = current_step(now)
    for candidate in (step, step - 1):
        if candidate < 0:
            continue
        if hmac.compare_digest(code_at(secret, candidate), code):
            return candidate
    return None
