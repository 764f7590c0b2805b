"""DKIM keys and the DNS records reported for them; the signer's files (OpenDKIM config, tables, key files) as
rendered and written, and Postfix's milter settings."""

from __future__ import annotations

import base64
import ipaddress
import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hostplane.errors import InvalidInput
from hostplane.mail import dkim
from hostplane.settings import Settings
from hostplane.system.mailconfig import ConfigRejected
from hostplane.system.opendkim import OpenDkimDriver, SigningKey
from hostplane.system.postfix import PostfixDriver

PAIR = dkim.generate_key_pair()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"state_dir": tmp_path / "state", "mail_dir": tmp_path / "mail"}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_a_generated_key_is_rsa_2048_with_the_usual_exponent() -> None:
    key = serialization.load_pem_private_key(PAIR.private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537
    assert PAIR.private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted, for the signer


def test_the_p_value_is_the_base64_subject_public_key_info_of_the_same_key() -> None:
    public = serialization.load_der_public_key(base64.b64decode(PAIR.public_b64, validate=True))
    private = serialization.load_pem_private_key(PAIR.private_pem, password=None)
    assert isinstance(public, rsa.RSAPublicKey) and isinstance(private, rsa.RSAPrivateKey)
    assert public.public_numbers() == private.public_key().public_numbers()


def test_two_generated_keys_differ() -> None:
    assert dkim.generate_key_pair().public_b64 != PAIR.public_b64


def test_the_dkim_txt_value_names_version_key_type_and_public_key() -> None:
    assert dkim.dkim_txt_value(PAIR.public_b64) == f"v=DKIM1; k=rsa; p={PAIR.public_b64}"


def test_a_2048_bit_record_is_split_into_255_byte_strings_that_join_back() -> None:
    value = dkim.dkim_txt_value(PAIR.public_b64)
    assert len(value) > 255
    strings = dkim.txt_strings(value)
    assert len(strings) == 2
    assert all(len(part) <= 255 for part in strings)
    assert len(strings[0]) == 255
    assert "".join(strings) == value


def test_a_short_value_stays_one_string_and_its_zone_text_has_no_parentheses() -> None:
    assert dkim.txt_strings("v=spf1 mx -all") == ["v=spf1 mx -all"]
    assert dkim.zone_text(["v=spf1 mx -all"]) == '"v=spf1 mx -all"'
    assert dkim.zone_text(["abc", "def"]) == '( "abc" "def" )'


def test_the_record_reports_name_value_and_zone_line() -> None:
    record = dkim.TxtRecord("mail._domainkey.example.com", dkim.dkim_txt_value(PAIR.public_b64))
    first, second = record.strings
    assert record.zone == f'mail._domainkey.example.com. IN TXT ( "{first}" "{second}" )'


def test_spf_suggestion_is_mx_only_without_a_server_address(tmp_path: Path) -> None:
    assert dkim.spf_value(make_settings(tmp_path)) == "v=spf1 mx -all"


@pytest.mark.parametrize(
    ("address", "expected"),
    [("198.51.100.7", "v=spf1 mx ip4:198.51.100.7 -all"), ("2001:db8::25", "v=spf1 mx ip6:2001:db8::25 -all")],
)
def test_spf_suggestion_names_the_servers_address(tmp_path: Path, address: str, expected: str) -> None:
    settings = make_settings(tmp_path, dkim_spf_address=ipaddress.ip_address(address))
    assert dkim.spf_value(settings) == expected


def test_the_spf_address_setting_must_be_an_ip_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dkim_spf_address"):
        make_settings(tmp_path, dkim_spf_address="mail.example.com; include:evil")


def test_dmarc_suggestion_quarantines_and_asks_for_reports_only_when_configured(tmp_path: Path) -> None:
    assert dkim.dmarc_value(make_settings(tmp_path)) == "v=DMARC1; p=quarantine; adkim=s; aspf=r; pct=100"
    with_reports = make_settings(tmp_path, dkim_dmarc_report_address="dmarc@example.com")
    assert dkim.dmarc_value(with_reports).endswith("; rua=mailto:dmarc@example.com")


@pytest.mark.parametrize("good", ["mail", "s1", "2026-01", "a", "x" * 63])
def test_selectors_of_the_strict_grammar_are_accepted(good: str) -> None:
    assert dkim.selector(good) == good


@pytest.mark.parametrize(
    "bad",
    ["", "-mail", "Mail", "mail.2026", "mail_1", "x" * 64, "mail\n", "mail\r\nx", "../etc", "a/b", "mail ", "ma:il"],
)
def test_selectors_outside_the_grammar_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        dkim.selector(bad)


@pytest.mark.parametrize("bad", ["Mail", "mail.x", "_mail", ""])
def test_the_selector_setting_uses_the_same_grammar(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="dkim_selector"):
        make_settings(tmp_path, dkim_selector=bad)


# --- the signer's files -------------------------------------------------------------------------------------
@pytest.fixture
def driver(tmp_path: Path, dkim_safe_root: Path) -> OpenDkimDriver:
    return OpenDkimDriver.from_settings(make_settings(tmp_path, dkim_milter_port=18999, dkim_safe_root=dkim_safe_root))


def table_lines(driver: OpenDkimDriver, name: str) -> list[str]:
    text = (driver.config_dir / name).read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_config_listens_on_the_milter_port_and_names_its_tables_and_pidfile(driver: OpenDkimDriver) -> None:
    conf = driver.render(driver.config_dir, [])["opendkim.conf"]
    assert "Socket                  inet:18999@127.0.0.1" in conf
    assert f"KeyTable                file:{driver.config_dir}/KeyTable" in conf
    assert f"SigningTable            refile:{driver.config_dir}/SigningTable" in conf
    assert f"PidFile                 {driver.pidfile}" in conf
    assert "RequireSafeKeys         yes" in conf
    assert "UserID                  opendkim:opendkim" in conf
    assert driver.milter == "inet:127.0.0.1:18999"


def test_tables_have_one_line_per_domain(driver: OpenDkimDriver) -> None:
    keys = [SigningKey("example.com", "mail", driver.key_path("example.com", "mail"))]
    files = driver.render(driver.config_dir, keys)
    key_path = driver.key_dir / "mail._domainkey.example.com.key"
    assert f"mail._domainkey.example.com example.com:mail:{key_path}\n" in files["KeyTable"]
    assert "*@example.com mail._domainkey.example.com\n" in files["SigningTable"]


@pytest.mark.parametrize(
    ("domain", "selector"),
    [("example.com x", "mail"), ("example.com", "mail:x"), ("../etc", "mail"), ("example.com", "a/b"), ("a", "mail")],
)
def test_names_that_could_change_a_table_line_or_a_path_never_reach_the_signer(
    driver: OpenDkimDriver, domain: str, selector: str
) -> None:
    with pytest.raises(ValueError, match="unsafe DKIM names"):
        driver.key_path(domain, selector)
    assert not driver.key_dir.exists()


def test_a_key_file_is_opendkim_only_and_the_tables_list_it(driver: OpenDkimDriver) -> None:
    driver.put_key("example.com", "mail", PAIR.private_pem)
    path = driver.key_path("example.com", "mail")
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    if os.geteuid() == 0:
        daemon = pwd.getpwnam("opendkim")
        assert (info.st_uid, info.st_gid) == (daemon.pw_uid, daemon.pw_gid)
    assert path.read_bytes() == PAIR.private_pem
    assert stat.S_IMODE(driver.key_dir.stat().st_mode) == 0o755
    assert table_lines(driver, "SigningTable") == ["*@example.com mail._domainkey.example.com"]
    assert [entry.name for entry in driver.key_dir.iterdir()] == ["mail._domainkey.example.com.key"]


def test_adding_a_domain_leaves_the_other_domains_key_files_untouched(driver: OpenDkimDriver) -> None:
    driver.put_key("a.example", "mail", PAIR.private_pem)
    first = driver.key_path("a.example", "mail").stat()
    driver.put_key("b.example", "mail", dkim.generate_key_pair().private_pem)
    again = driver.key_path("a.example", "mail").stat()
    assert (first.st_ino, first.st_mtime_ns) == (again.st_ino, again.st_mtime_ns)
    assert table_lines(driver, "SigningTable") == [
        "*@a.example mail._domainkey.a.example",
        "*@b.example mail._domainkey.b.example",
    ]


def test_a_new_selector_replaces_the_domains_old_key(driver: OpenDkimDriver) -> None:
    driver.put_key("example.com", "mail", PAIR.private_pem)
    driver.put_key("example.com", "s2", PAIR.private_pem)
    assert [entry.name for entry in driver.key_dir.iterdir()] == ["s2._domainkey.example.com.key"]
    assert table_lines(driver, "SigningTable") == ["*@example.com s2._domainkey.example.com"]


def test_removing_a_domain_deletes_its_key_and_its_table_lines(driver: OpenDkimDriver) -> None:
    driver.put_key("a.example", "mail", PAIR.private_pem)
    driver.put_key("b.example", "mail", PAIR.private_pem)
    assert driver.remove_key("a.example") is True
    assert not driver.key_path("a.example", "mail").exists()
    assert table_lines(driver, "KeyTable") == [
        f"mail._domainkey.b.example b.example:mail:{driver.key_path('b.example', 'mail')}"
    ]
    assert driver.remove_key("a.example") is False


def test_sync_rewrites_changed_keys_removes_strays_and_reports_the_drift(driver: OpenDkimDriver) -> None:
    other = dkim.generate_key_pair().private_pem
    driver.put_key("kept.example", "mail", PAIR.private_pem)
    driver.put_key("stray.example", "mail", PAIR.private_pem)
    driver.key_path("kept.example", "mail").write_bytes(b"edited by hand")
    (driver.config_dir / "SigningTable").write_text("*@evil.example mail._domainkey.kept.example\n")

    drift = driver.sync_keys({("kept.example", "mail"): PAIR.private_pem, ("new.example", "mail"): other})

    assert drift == [
        "opendkim SigningTable rewritten (it did not match the key folder)",
        "dkim key mail._domainkey.kept.example rewritten",
        "dkim key mail._domainkey.new.example added",
        "dkim key mail._domainkey.stray.example removed (no such key in the panel)",
    ]
    assert driver.key_path("kept.example", "mail").read_bytes() == PAIR.private_pem
    assert table_lines(driver, "SigningTable") == [
        "*@kept.example mail._domainkey.kept.example",
        "*@new.example mail._domainkey.new.example",
    ]
    assert driver.sync_keys({("kept.example", "mail"): PAIR.private_pem, ("new.example", "mail"): other}) == []


def test_a_key_folder_under_tmp_is_reported_unsafe_and_refused_at_start() -> None:
    unsafe = OpenDkimDriver.from_settings(make_settings(Path("/tmp/hp-x"), dkim_key_dir=Path("/tmp/hp-x/keys")))
    assert Path("/tmp") in unsafe.unsafe_key_folders()
    with pytest.raises(RuntimeError, match="OpenDKIM would refuse the keys"):
        unsafe.check_key_folder()


def test_a_root_owned_0755_key_folder_is_safe(tmp_path: Path) -> None:
    driver = OpenDkimDriver.from_settings(make_settings(tmp_path, dkim_key_dir=Path("/usr/share")))
    assert driver.unsafe_key_folders() == []
    driver.check_key_folder()


def test_safe_keys_can_be_turned_off_for_development_trees(tmp_path: Path) -> None:
    driver = OpenDkimDriver.from_settings(make_settings(tmp_path, dkim_require_safe_keys=False))
    driver.check_key_folder()
    assert "RequireSafeKeys         no" in driver.render(driver.config_dir, [])["opendkim.conf"]


def test_apply_validates_with_opendkim_and_a_refused_config_leaves_the_live_one(
    driver: OpenDkimDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert driver.apply_sync() is True
    live = (driver.config_dir / "opendkim.conf").read_text()
    assert driver.apply_sync() is False

    render: Callable[..., dict[str, str]] = driver.render

    def broken(config_dir: Path, keys: object = None) -> dict[str, str]:
        files = render(config_dir)
        files["opendkim.conf"] += "NoSuchParameter yes\n"
        return files

    monkeypatch.setattr(driver, "render", broken)
    with pytest.raises(ConfigRejected, match="unrecognized parameter"):
        driver.apply_sync()
    assert (driver.config_dir / "opendkim.conf").read_text() == live
    assert not driver.config_dir.with_name("opendkim.staging").exists()


def test_postfix_passes_all_mail_through_the_signer_and_defers_it_while_the_signer_is_down(tmp_path: Path) -> None:
    main = PostfixDriver.from_settings(make_settings(tmp_path, dkim_milter_port=18999)).render()["main.cf"]
    assert "smtpd_milters = inet:127.0.0.1:18999\n" in main
    assert "non_smtpd_milters = inet:127.0.0.1:18999\n" in main
    assert "milter_default_action = tempfail\n" in main
