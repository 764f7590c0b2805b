"""The ACME protocol (RFC 8555) on the PyPI `acme` library: account, order, HTTP-01 challenges, finalization.

Blocking (the library uses `requests` and sleeps while polling): call it in a thread. Everything the CA refuses
comes out as AcmeProblem with the CA's own problem document (type, detail, subproblems) and its Retry-After;
everything else that goes wrong on the way (network, timeouts, nonsense answers) as AcmeUnavailable.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from acme import challenges, client, crypto_util, messages
from acme import errors as acme_errors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.errors import DeserializationError
from josepy.jwa import ES256, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
"""An HTTP-01 token is base64url (RFC 8555 8.3): nothing else becomes a file name, whatever the CA sends."""
CHALLENGE_FOLDER = Path(".well-known") / "acme-challenge"
USER_AGENT = "hostplane-acme"


class AcmeProblem(Exception):
    """The CA refused: `problem` is its problem document (type, detail, status, subproblems)."""

    def __init__(self, problem: dict[str, Any], *, retry_after: float | None = None) -> None:
        super().__init__(problem.get("detail") or problem.get("type") or "the certificate authority refused")
        self.problem = problem
        self.retry_after = retry_after

    @property
    def type(self) -> str:
        return str(self.problem.get("type") or "")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or "")

    @property
    def rate_limited(self) -> bool:
        return self.type == RATE_LIMITED


class AcmeUnavailable(Exception):
    """The CA could not be reached or answered something unusable (the message says which, without secrets)."""


def new_account_key_pem() -> bytes:
    """A new account key: EC P-256 (signs as ES256), PKCS#8 PEM."""
    return _ec_key_pem()


def new_certificate_key_pem() -> bytes:
    """A new key for one certificate: EC P-256, PKCS#8 PEM (nginx and every current client take it)."""
    return _ec_key_pem()


def _ec_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_csr(private_key_pem: bytes, hostnames: list[str]) -> bytes:
    return crypto_util.make_csr(private_key_pem, hostnames)


def challenge_file(webroot: Path, token: str) -> Path:
    """Where the HTTP-01 answer for `token` goes so that nginx serves it at /.well-known/acme-challenge/<token>."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise AcmeUnavailable("the certificate authority sent a challenge token that is not base64url")
    return webroot / CHALLENGE_FOLDER / token


def publish_challenge(webroot: Path, challenge: Http01Challenge) -> Path:
    """Write a challenge's answer where nginx serves it (readable by its `nobody` workers; nothing secret in it);
    the caller removes the file once the order is done."""
    path = challenge_file(webroot, challenge.token)
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        os.chmod(folder, 0o755)  # noqa: S103 (served by the nginx workers)
    temporary = path.with_name(f".{challenge.token}.tmp")
    temporary.write_text(challenge.key_authorization)
    os.chmod(temporary, 0o644)
    temporary.replace(path)
    return path


def _load_account_key(pem: bytes) -> tuple[JWK, JWASignature]:
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return JWKEC(key=key), ES256
    return JWKRSA(key=key), RS256


def retry_after_seconds(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """A Retry-After header in seconds (delta-seconds or an HTTP-date), or None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def problem_document(error: messages.Error) -> dict[str, Any]:
    """The CA's problem document as plain JSON: type, detail, and its subproblems (each with its identifier)."""
    document: dict[str, Any] = {"type": error.typ, "detail": error.detail or ""}
    if error.title:
        document["title"] = error.title
    if error.identifier is not None:
        document["identifier"] = {"type": str(error.identifier.typ.name), "value": error.identifier.value}
    if error.subproblems:
        document["subproblems"] = [problem_document(sub) for sub in error.subproblems]
    return document


def _validation_problem(failed: list[messages.AuthorizationResource]) -> dict[str, Any]:
    """An order whose challenges failed: one subproblem per failed challenge, with its hostname."""
    subproblems: list[dict[str, Any]] = []
    for authzr in failed:
        for challb in authzr.body.challenges:
            if challb.error is None:
                continue
            sub = problem_document(challb.error)
            sub.setdefault("identifier", {"type": "dns", "value": authzr.body.identifier.value})
            subproblems.append(sub)
    first = subproblems[0] if subproblems else {"type": "urn:ietf:params:acme:error:unauthorized", "detail": ""}
    names = ", ".join(sorted({str(sub["identifier"]["value"]) for sub in subproblems})) or "the hostname"
    return {
        "type": first["type"],
        "detail": f"The certificate authority could not validate {names}: {first.get('detail', '')}".rstrip(": "),
        "subproblems": subproblems,
    }


class _Network(client.ClientNetwork):
    """ClientNetwork that keeps the last response, so a refusal's Retry-After can be read."""

    last_response: requests.Response | None = None

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = super()._send_request(method, url, *args, **kwargs)
        self.last_response = response
        return response


@dataclass(frozen=True)
class Http01Challenge:
    hostname: str
    token: str
    key_authorization: str
    challenge: messages.ChallengeBody
    response: challenges.ChallengeResponse


class AcmeClient:
    """One conversation with one CA directory, signed with one account key."""

    def __init__(
        self,
        directory_url: str,
        account_key_pem: bytes,
        *,
        ca_bundle: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.directory_url = directory_url
        key, alg = _load_account_key(account_key_pem)
        self.key = key
        self.net = _Network(
            key,
            alg=alg,
            verify_ssl=str(ca_bundle) if ca_bundle else True,  # type: ignore[arg-type]  # requests takes a path too
            user_agent=USER_AGENT,
            timeout=max(1, int(timeout)),
        )
        self._client: client.ClientV2 | None = None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except messages.Error as exc:
            retry = self.net.last_response.headers.get("Retry-After") if self.net.last_response is not None else None
            raise AcmeProblem(problem_document(exc), retry_after=retry_after_seconds(retry)) from exc
        except acme_errors.ValidationError as exc:
            raise AcmeProblem(_validation_problem(exc.failed_authzrs)) from exc
        except acme_errors.IssuanceError as exc:
            raise AcmeProblem(problem_document(exc.error)) from exc
        except acme_errors.TimeoutError as exc:
            raise AcmeUnavailable("the certificate authority did not finish the order in time") from exc
        except requests.exceptions.SSLError as exc:
            raise AcmeUnavailable(
                "the certificate authority's TLS certificate was not trusted (see the acme_ca_bundle setting)"
            ) from exc
        except requests.RequestException as exc:
            raise AcmeUnavailable(f"the certificate authority could not be reached ({type(exc).__name__})") from exc
        except (acme_errors.Error, DeserializationError, ValueError, KeyError) as exc:
            raise AcmeUnavailable(f"the certificate authority gave an unusable answer ({type(exc).__name__})") from exc

    @property
    def client(self) -> client.ClientV2:
        if self._client is None:
            with self._translated():
                directory = client.ClientV2.get_directory(self.directory_url, self.net)
            self._client = client.ClientV2(directory, self.net)
        return self._client

    def register(self, email: str | None) -> str:
        """The account of this key (created on first use; the CA answers with the existing one after that, by
        RFC 8555 7.3.1), bound to the network for the requests that follow. Returns the account URL."""
        registration = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
        acme = self.client
        with self._translated():
            try:
                account = acme.new_account(registration)
            except acme_errors.ConflictError as exc:
                account = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
                self.net.account = account
        return str(account.uri)

    def new_order(self, hostname: str, csr_pem: bytes) -> messages.OrderResource:
        acme = self.client
        with self._translated():
            return acme.new_order(csr_pem)

    def http01_challenges(self, order: messages.OrderResource) -> list[Http01Challenge]:
        """The HTTP-01 challenges still to answer (an authorization the CA already holds valid needs none)."""
        found: list[Http01Challenge] = []
        for authzr in order.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue
            hostname = str(authzr.body.identifier.value)
            for challb in authzr.body.challenges:
                if isinstance(challb.chall, challenges.HTTP01):
                    response, validation = challb.response_and_validation(self.key)
                    found.append(Http01Challenge(hostname, challb.chall.encode("token"), validation, challb, response))
                    break
            else:
                raise AcmeProblem(
                    {
                        "type": "urn:ietf:params:acme:error:unsupportedIdentifier",
                        "detail": f"The certificate authority offers no HTTP-01 challenge for {hostname}.",
                    }
                )
        return found

    def answer(self, challenge: Http01Challenge) -> None:
        acme = self.client
        with self._translated():
            acme.answer_challenge(challenge.challenge, challenge.response)

    def finalize(self, order: messages.OrderResource, timeout: float) -> str:
        """Wait for validation, finalize with the CSR, and return the issued full chain (PEM, leaf first)."""
        acme = self.client
        deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)  # the library compares naive local times
        with self._translated():
            finished = acme.poll_and_finalize(order, deadline)
        if not finished.fullchain_pem:
            raise AcmeUnavailable("the certificate authority returned no certificate")
        return str(finished.fullchain_pem)

    def close(self) -> None:
        self.net.session.close()
