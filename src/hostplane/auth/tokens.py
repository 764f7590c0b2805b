"""Access tokens: HS256 JWTs with every claim required and the algorithm pinned (no `none`, no key confusion)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
AUDIENCE = "hostplane"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "aud"]


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    session_id: str
    expires_at: dt.datetime


def issue_access_token(
    key: bytes, *, user_id: int, session_id: str, issued_at: dt.datetime, expires_at: dt.datetime
) -> str:
    payload = {"sub": str(user_id), "jti": session_id, "iat": issued_at, "exp": expires_at, "aud": AUDIENCE}
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def decode_access_token(key: bytes, token: str, now: dt.datetime) -> TokenClaims | None:
    """The claims of a valid token signed by us, unexpired at `now`; None for anything else."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
        )
        subject, session_id, expiry = claims["sub"], claims["jti"], claims["exp"]
        if not (isinstance(subject, str) and subject.isdigit() and isinstance(session_id, str)):
            return None
        expires_at = dt.datetime.fromtimestamp(expiry, dt.UTC)
        if not isinstance(expiry, int | float) or expires_at <= now:
            return None
        return TokenClaims(user_id=int(subject), session_id=session_id, expires_at=expires_at)
    except jwt.PyJWTError:
        return None
