"""Helpers for the Pterodactyl dialect's tests: requests sent as Pterodactyl's clients send them (JSON bodies,
`Accept: application/json`), and checks of its resource, list and error envelopes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import subprocess
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ed25519, rsa

from hostplane.auth import totp
from tests.api.test_two_factor import settled_step
from tests.conftest import Account, Api

ACCOUNT = "/api/client/account"
ACCEPT = {"Accept": "application/json"}
JSON = {"Accept": "application/json", "Content-Type": "application/json"}
ATOM = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
IDENTIFIER = re.compile(r"^[A-Za-z0-9]{16}$")
ERROR_KEYS = {"code", "status", "detail"}


async def send(api: Api, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    """A request as the reference document shows it: a JSON body with both headers, or only `Accept`."""
    if body is None:
        return await api.request(method, ACCOUNT + path, headers=dict(ACCEPT), **kwargs)
    return await api.request(method, ACCOUNT + path, headers=dict(JSON), content=json.dumps(body), **kwargs)


def assert_no_trace(response: httpx.Response) -> None:
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def errors_of(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """Pterodactyl's error envelope `{errors: [{code, status, detail}]}` (plus `meta` on validation errors)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors"}, body
    errors: list[dict[str, Any]] = body["errors"]
    assert errors
    for error in errors:
        assert ERROR_KEYS <= set(error) <= ERROR_KEYS | {"meta"}, error
        assert error["status"] == str(status)
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["detail"], str) and error["detail"]
    assert_no_trace(response)
    return errors


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    [error] = errors_of(response, status)
    assert error["code"] == code, error
    assert "meta" not in error
    return error


def validation_errors(response: httpx.Response) -> list[tuple[str, str, str]]:
    """(source_field, rule, detail) of each error of a 422 ValidationException answer."""
    found = []
    for error in errors_of(response, 422):
        assert error["code"] == "ValidationException"
        assert set(error["meta"]) == {"source_field", "rule"}
        found.append((error["meta"]["source_field"], error["meta"]["rule"], error["detail"]))
    return found


def resource(response: httpx.Response, kind: str, status: int = 200) -> dict[str, Any]:
    """The attributes of a `{object: kind, attributes}` answer."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == kind
    assert set(body) <= {"object", "attributes", "meta"}
    attributes: dict[str, Any] = body["attributes"]
    return attributes


def items(response: httpx.Response, kind: str) -> list[dict[str, Any]]:
    """The attributes of each resource of a `{object: "list", data: [...]}` answer."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    for entry in body["data"]:
        assert set(entry) == {"object", "attributes"}
        assert entry["object"] == kind
    return [entry["attributes"] for entry in body["data"]]


async def create_key(api: Api, description: str = "deploy", allowed_ips: list[str] | None = None) -> dict[str, Any]:
    """A key made through the dialect: its full answer (attributes and meta.secret_token)."""
    response = await send(api, "POST", "/api-keys", {"description": description, "allowed_ips": allowed_ips or []})
    resource(response, "api_key")
    result: dict[str, Any] = response.json()
    return result


async def enable_two_factor(api: Api, account: Account) -> tuple[str, int]:
    """Two-factor on through the dialect, with the previous step's code (the current one stays free for a
    login); returns (secret, current step)."""
    setup = await send(api, "GET", "/two-factor")
    assert setup.status_code == 200, setup.text
    secret = setup.json()["data"]["secret"]
    step = await settled_step(api)
    enabled = await send(
        api, "POST", "/two-factor", {"code": totp.code_at(secret, step - 1), "password": account.password}
    )
    assert resource(enabled, "recovery_tokens")["tokens"]
    return secret, step


def ed25519_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def rsa_key(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(number: int) -> bytes:
    return _ssh_string(number.to_bytes(number.bit_length() // 8 + 1, "big"))


def dsa_key() -> str:
    """A real `ssh-dss` public key (encoded by hand: the cryptography package deprecates writing DSA keys)."""
    numbers = dsa.generate_private_key(key_size=1024).public_key().public_numbers()
    params = numbers.parameter_numbers
    blob = _ssh_string(b"ssh-dss") + b"".join(_mpint(n) for n in (params.p, params.q, params.g, numbers.y))
    return "ssh-dss " + base64.b64encode(blob).decode()


def ssh_keygen_fingerprint(public_key: str, folder: Path) -> str:
    """What `ssh-keygen -lf` prints as the key's fingerprint (`SHA256:...`)."""
    key_file = folder / "key.pub"
    key_file.write_text(public_key + "\n")
    printed = subprocess.run(["ssh-keygen", "-lf", str(key_file)], check=True, capture_output=True, text=True)
    return printed.stdout.split()[1]


def sha256_fingerprint(public_key: str) -> str:
    """phpseclib's getFingerprint('sha256'), as Pterodactyl stores it: the unpadded base64 digest, no prefix."""
    blob = base64.b64decode(public_key.split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
