"""Specification of hostplane.auth.tokens: access tokens are HS256 JWTs with every claim required and the
algorithm pinned; anything else (no signature, another key, another algorithm, a tampered payload) is refused,
by the decoder and by the API."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hostplane.auth.tokens import (
    ALGORITHM,
    AUDIENCE,
    REQUIRED_CLAIMS,
    decode_access_token,
    issue_access_token,
)
from hostplane.clock import ManualClock
from hostplane.runtime import Runtime
from tests.conftest import Account, Api

KEY = secrets.token_bytes(32)
OTHER_KEY = secrets.token_bytes(32)
SESSION = "s" * 43
SHORT_KEY_WARNING = "ignore::jwt.warnings.InsecureKeyLengthWarning"
"""HS384/HS512 want longer keys; these tests only prove that such tokens are refused."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def issue(key: bytes = KEY, *, user_id: int = 7, lifetime: int = 3600) -> str:
    issued = now()
    return issue_access_token(
        key, user_id=user_id, session_id=SESSION, issued_at=issued, expires_at=issued + dt.timedelta(seconds=lifetime)
    )


def claims(**changes: Any) -> dict[str, Any]:
    """A complete, valid claim set; a change to None drops that claim."""
    issued = now()
    payload: dict[str, Any] = {
        "sub": "7",
        "jti": SESSION,
        "iat": int(issued.timestamp()),
        "exp": int((issued + dt.timedelta(hours=1)).timestamp()),
        "aud": AUDIENCE,
    }
    payload.update(changes)
    return {name: value for name, value in payload.items() if value is not None}


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def b64url_decode(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    return f"{b64url({'alg': alg, 'typ': 'JWT'})}.{b64url(payload)}."


def with_payload(token: str, **changes: Any) -> str:
    """The token with its payload changed and its original signature kept."""
    header, payload, signature = token.split(".")
    return f"{header}.{b64url({**b64url_decode(payload), **changes})}.{signature}"


# --- what a token holds ----------------------------------------------------------------------------


def test_a_token_is_an_hs256_jwt_with_every_required_claim() -> None:
    token = issue()
    assert jwt.get_unverified_header(token)["alg"] == "HS256" == ALGORITHM
    payload = jwt.decode(token, KEY, algorithms=["HS256"], audience=AUDIENCE)
    assert set(payload) == {"exp", "iat", "sub", "jti", "aud"} == set(REQUIRED_CLAIMS)
    assert payload["sub"] == "7"
    assert payload["jti"] == SESSION
    assert payload["aud"] == "hostplane"
    assert payload["exp"] - payload["iat"] == 3600


def test_a_token_decodes_to_its_user_and_session() -> None:
    claims = decode_access_token(KEY, issue(user_id=42), now())
    assert claims is not None
    assert (claims.user_id, claims.session_id) == (42, SESSION)
    assert claims.expires_at.tzinfo is not None


def test_a_token_signed_with_the_right_key_by_another_library_call_is_accepted() -> None:
    token = jwt.encode(claims(), KEY, algorithm="HS256")
    decoded = decode_access_token(KEY, token, now())
    assert decoded is not None
    assert (decoded.user_id, decoded.session_id) == (7, SESSION)


# --- what is refused -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_an_unsigned_alg_none_token_is_refused(alg: str) -> None:
    assert decode_access_token(KEY, unsigned(claims(), alg), now()) is None


def test_an_alg_none_header_on_a_genuine_signature_is_refused() -> None:
    _, payload, signature = issue().split(".")
    assert decode_access_token(KEY, f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}", now()) is None


def test_a_token_signed_with_another_key_is_refused() -> None:
    assert decode_access_token(KEY, issue(OTHER_KEY), now()) is None


@pytest.mark.parametrize(
    "change", [{"sub": "1"}, {"jti": "t" * 43}, {"exp": 4102444800}, {"aud": "other"}, {"extra": "x"}]
)
def test_a_tampered_payload_under_an_hs256_header_is_refused(change: dict[str, Any]) -> None:
    token = issue()
    assert decode_access_token(KEY, token, now()) is not None
    assert decode_access_token(KEY, with_payload(token, **change), now()) is None


def test_a_tampered_signature_is_refused() -> None:
    header, payload, signature = issue().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert decode_access_token(KEY, f"{header}.{payload}.{flipped}", now()) is None
    assert decode_access_token(KEY, f"{header}.{payload}.", now()) is None


@pytest.mark.parametrize("missing", REQUIRED_CLAIMS)
def test_a_token_missing_a_required_claim_is_refused(missing: str) -> None:
    token = jwt.encode(claims(**{missing: None}), KEY, algorithm="HS256")
    assert missing not in jwt.decode(token, options={"verify_signature": False})
    assert decode_access_token(KEY, token, now()) is None


def test_an_expired_token_is_refused() -> None:
    expired = jwt.encode(claims(exp=int(now().timestamp()) - 5), KEY, algorithm="HS256")
    assert decode_access_token(KEY, expired, now()) is None


def test_a_token_expires_on_the_clock_the_caller_reads() -> None:
    token = issue(lifetime=60)
    assert decode_access_token(KEY, token, now() + dt.timedelta(seconds=59)) is not None
    assert decode_access_token(KEY, token, now() + dt.timedelta(seconds=60)) is None


def test_a_token_for_another_audience_is_refused() -> None:
    assert decode_access_token(KEY, jwt.encode(claims(aud="someone-else"), KEY, algorithm="HS256"), now()) is None


@pytest.mark.parametrize("subject", ["admin", "-1", "1.5", ""])
def test_a_subject_that_is_not_a_user_id_is_refused(subject: str) -> None:
    assert decode_access_token(KEY, jwt.encode(claims(sub=subject), KEY, algorithm="HS256"), now()) is None


def test_a_session_id_that_is_not_a_string_is_refused() -> None:
    assert decode_access_token(KEY, jwt.encode(claims(jti=12345), KEY, algorithm="HS256"), now()) is None


@pytest.mark.filterwarnings(SHORT_KEY_WARNING)
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_another_hmac_algorithm_with_the_right_key_is_refused(alg: str) -> None:
    token = jwt.encode(claims(), KEY, algorithm=alg)
    assert jwt.decode(token, KEY, algorithms=[alg], audience=AUDIENCE)["sub"] == "7"
    assert decode_access_token(KEY, token, now()) is None


def test_an_rs256_token_is_refused() -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), private_key, algorithm="RS256")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert decode_access_token(KEY, token, now()) is None


@pytest.mark.parametrize("garbage", ["", "x", "a.b", "a.b.c", "....", "Bearer", "hp_" + "a" * 48])
def test_garbage_is_refused_without_an_exception(garbage: str) -> None:
    assert decode_access_token(KEY, garbage, now()) is None


# --- through the API -------------------------------------------------------------------------------


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401
    assert body["code"] == "authentication_required"


async def test_the_api_accepts_a_genuine_token(user_api: Api, alice: Account) -> None:
    token = await user_api.login(alice)
    response = await user_api.get("/api/v1/account", token=token)
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


async def test_the_api_refuses_an_alg_none_token(user_api: Api, alice: Account) -> None:
    token = await user_api.login(alice)
    payload = b64url_decode(token.split(".")[1])
    assert_unauthorized(await user_api.get("/api/v1/account", token=unsigned(payload)))


async def test_the_api_refuses_a_token_with_a_tampered_payload(user_api: Api, alice: Account, admin: Account) -> None:
    token = await user_api.login(alice)
    forged = with_payload(token, sub=str(admin.user.id))
    assert_unauthorized(await user_api.get("/api/v1/account", token=forged))


async def test_the_api_refuses_a_token_signed_with_another_key(user_api: Api, alice: Account, runtime: Runtime) -> None:
    token = await user_api.login(alice)
    payload = jwt.decode(token, runtime.keyring.signing_key, algorithms=["HS256"], audience=AUDIENCE)
    assert_unauthorized(await user_api.get("/api/v1/account", token=jwt.encode(payload, OTHER_KEY, algorithm="HS256")))


@pytest.mark.filterwarnings(SHORT_KEY_WARNING)
async def test_the_api_refuses_a_token_of_another_algorithm_with_its_key(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    token = await user_api.login(alice)
    payload = jwt.decode(token, runtime.keyring.signing_key, algorithms=["HS256"], audience=AUDIENCE)
    hs512 = jwt.encode(payload, runtime.keyring.signing_key, algorithm="HS512")
    assert_unauthorized(await user_api.get("/api/v1/account", token=hs512))


async def test_the_api_refuses_an_expired_token_even_while_its_session_lives(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    token = await user_api.login(alice)
    payload = jwt.decode(token, runtime.keyring.signing_key, algorithms=["HS256"], audience=AUDIENCE)
    payload["exp"] = int(runtime.clock.now().timestamp()) - 5
    expired = jwt.encode(payload, runtime.keyring.signing_key, algorithm="HS256")
    assert_unauthorized(await user_api.get("/api/v1/account", token=expired))
    assert (await user_api.get("/api/v1/account", token=token)).status_code == 200


async def test_a_login_token_ends_when_the_clock_passes_its_lifetime(
    user_api: Api, alice: Account, runtime: Runtime, clock: ManualClock
) -> None:
    token = await user_api.login(alice)
    clock.advance(runtime.settings.access_token_seconds - 1)
    runtime.credentials.clear()
    assert (await user_api.get("/api/v1/account", token=token)).status_code == 200
    clock.advance(1)
    assert_unauthorized(await user_api.get("/api/v1/account", token=token))
