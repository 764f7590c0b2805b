"""The ACME client's contract (AcmeProtocol), kept by the protocol client on the `acme` library (AcmeClient,
against Debian's Pebble with every challenge taken as valid: tests/integration/tls/test_acme.py validates HTTP-01
through our nginx) and by FakeAcmeCa."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hostplane.settings import Settings
from hostplane.system import acme as protocol
from hostplane.system.daemons import port_open
from hostplane.system.drivers import acme_client
from hostplane.system.fake import FakeAcmeCa
from hostplane.system.interfaces import AcmeClientFactory, AcmeProtocol
from hostplane.tls.selfsigned import self_signed_pem
from tests.conformance.conftest import IMPLEMENTATIONS, free_port, settings_in


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(directory URL, CA bundle) of a Pebble that takes every challenge as valid (PEBBLE_VA_ALWAYS_VALID)."""
    base = tmp_path_factory.mktemp("pebble")
    certificate, key = self_signed_pem(["localhost"])
    (base / "cert.pem").write_bytes(certificate)
    (base / "key.pem").write_bytes(key)
    port = free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{free_port()}",
            "certificate": str(base / "cert.pem"),
            "privateKey": str(base / "key.pem"),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (base / "pebble.json").write_text(json.dumps(config))
    environment = {**os.environ, "PEBBLE_VA_ALWAYS_VALID": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_VA_NOSLEEP": "1"}
    log = base / "pebble.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["pebble", "-config", str(base / "pebble.json")], stdout=out, stderr=subprocess.STDOUT, env=environment
        )
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield f"https://127.0.0.1:{port}/dir", base / "cert.pem"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@dataclass
class Harness:
    factory: AcmeClientFactory
    settings: Settings

    def client(self, account_key_pem: bytes) -> AcmeProtocol:
        return self.factory(self.settings, account_key_pem)


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "fake":
        return Harness(FakeAcmeCa(), settings_in(tmp_path))
    directory, bundle = request.getfixturevalue("pebble")
    settings = settings_in(tmp_path, acme_directory_url=directory, acme_ca_bundle=bundle, acme_network_timeout=10)
    return Harness(acme_client, settings)


@pytest.fixture
def account_key() -> bytes:
    return protocol.new_account_key_pem()


def thumbprint(account_key_pem: bytes) -> str:
    key, _alg = protocol._load_account_key(account_key_pem)
    return base64.urlsafe_b64encode(key.thumbprint()).decode().rstrip("=")


def test_the_same_key_registers_the_same_account_and_another_key_another(harness: Harness, account_key: bytes) -> None:
    first = harness.client(account_key)
    try:
        url = first.register("hostmaster@hostplane.test")
        assert url.startswith("https://")
        assert harness.client(account_key).register("hostmaster@hostplane.test") == url
        assert harness.client(protocol.new_account_key_pem()).register(None) != url
    finally:
        first.close()


def test_an_answered_order_is_issued_for_the_csr_key_and_name(harness: Harness, account_key: bytes) -> None:
    client = harness.client(account_key)
    client.register(None)
    key_pem = protocol.new_certificate_key_pem()
    order = client.new_order("shop.test", protocol.make_csr(key_pem, ["shop.test"]))
    challenges = client.http01_challenges(order)
    assert [challenge.hostname for challenge in challenges] == ["shop.test"]
    challenge = challenges[0]
    assert protocol.TOKEN_PATTERN.fullmatch(challenge.token)
    assert challenge.key_authorization == f"{challenge.token}.{thumbprint(account_key)}"
    client.answer(challenge)
    fullchain = client.finalize(order, 30)
    client.close()
    leaf_pem, _chain = fullchain.split("-----END CERTIFICATE-----", 1)
    leaf = x509.load_pem_x509_certificate((leaf_pem + "-----END CERTIFICATE-----\n").encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == ["shop.test"]
    public = serialization.load_pem_private_key(key_pem, password=None).public_key()
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert leaf.public_key().public_bytes(*spki) == public.public_bytes(*spki)
    assert fullchain.count("BEGIN CERTIFICATE") >= 2  # leaf first, then the issuer(s)


def test_a_wildcard_gets_no_http01_challenge(harness: Harness, account_key: bytes) -> None:
    client = harness.client(account_key)
    client.register(None)
    key_pem = protocol.new_certificate_key_pem()
    order = client.new_order("*.shop.test", protocol.make_csr(key_pem, ["*.shop.test"]))
    with pytest.raises(protocol.AcmeProblem) as refused:
        client.http01_challenges(order)
    assert refused.value.type == "urn:ietf:params:acme:error:unsupportedIdentifier"
    client.close()
