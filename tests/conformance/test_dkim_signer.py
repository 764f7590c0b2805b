"""The DKIM signer's contract (DkimSigner), kept by OpenDKIM's driver (OpenDkimDriver: key files and tables on
disk; tests/integration/mail/test_dkim.py signs real mail) and by FakeDkimSigner."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostplane.system.fake import FakeDkimSigner
from hostplane.system.interfaces import DkimSigner
from hostplane.system.opendkim import OpenDkimDriver
from tests.conformance.conftest import IMPLEMENTATIONS, settings_in

PEM_A = b"-----BEGIN PRIVATE KEY-----\nQUFB\n-----END PRIVATE KEY-----\n"
PEM_B = b"-----BEGIN PRIVATE KEY-----\nQkJC\n-----END PRIVATE KEY-----\n"


@pytest.fixture(params=IMPLEMENTATIONS)
def signer(request: pytest.FixtureRequest, tmp_path: Path) -> DkimSigner:
    if request.param == "fake":
        return FakeDkimSigner()
    return OpenDkimDriver.from_settings(settings_in(tmp_path, dkim_key_dir=tmp_path / "keys"))


def installed(signer: DkimSigner) -> list[tuple[str, str]]:
    return [(key.domain, key.selector) for key in signer.installed_keys()]


def test_a_key_put_is_installed_for_its_domain_and_selector(signer: DkimSigner) -> None:
    signer.put_key("example.com", "mail", PEM_A)
    signer.put_key("example.org", "s1", PEM_B)
    assert installed(signer) == [("example.com", "mail"), ("example.org", "s1")]
    names = [key.dns_name for key in signer.installed_keys()]
    assert names == ["mail._domainkey.example.com", "s1._domainkey.example.org"]


def test_a_domain_has_one_key_whatever_its_selector(signer: DkimSigner) -> None:
    signer.put_key("example.com", "mail", PEM_A)
    signer.put_key("example.com", "s2024", PEM_B)
    assert installed(signer) == [("example.com", "s2024")]


def test_removing_a_key_says_whether_there_was_one(signer: DkimSigner) -> None:
    signer.put_key("example.com", "mail", PEM_A)
    signer.put_key("example.org", "mail", PEM_A)
    assert signer.remove_key("example.com") is True
    assert signer.remove_key("example.com") is False
    assert installed(signer) == [("example.org", "mail")]


def test_sync_makes_the_keys_exactly_the_wanted_ones_and_reports_what_differed(signer: DkimSigner) -> None:
    signer.put_key("changed.test", "mail", PEM_A)
    signer.put_key("kept.test", "mail", PEM_A)
    signer.put_key("stale.test", "mail", PEM_A)
    wanted = {
        ("changed.test", "mail"): PEM_B,
        ("kept.test", "mail"): PEM_A,
        ("new.test", "s1"): PEM_B,
    }
    assert signer.sync_keys(wanted) == [
        "dkim key mail._domainkey.changed.test rewritten",
        "dkim key s1._domainkey.new.test added",
        "dkim key mail._domainkey.stale.test removed (no such key in the panel)",
    ]
    assert installed(signer) == [("changed.test", "mail"), ("kept.test", "mail"), ("new.test", "s1")]
    assert signer.sync_keys(wanted) == []


@pytest.mark.parametrize(("domain", "selector"), [("../etc", "mail"), ("example.com", "a b"), ("EXAMPLE.com", "x")])
def test_unsafe_names_are_refused_before_anything_is_written(signer: DkimSigner, domain: str, selector: str) -> None:
    with pytest.raises(ValueError):
        signer.put_key(domain, selector, PEM_A)
    with pytest.raises(ValueError):
        signer.sync_keys({(domain, selector): PEM_A})
    assert installed(signer) == []
