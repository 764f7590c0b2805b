"""GET /api/v1/domains/{id}/export and /api/v1/mail/domains/{id}/export: a tar.gz of the website files, the
mailboxes' Maildirs and a manifest, owner-scoped, without secrets, never following a symlink out of the docroot."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostplane.runtime import Runtime
from hostplane.system.mailpaths import MailPaths
from tests.conftest import Account, Api
from tests.unit.tls.pki import make_pki

HOST = "site.test"
MAILBOX_PASSWORD = "correct-horse-mailbox-7"
MESSAGE = b"From: a@b.test\nTo: alice@site.test\nSubject: hello\n\nexported mail body\n"


@pytest.fixture
async def bob(make_account: Callable[..., Any]) -> Account:
    account: Account = await make_account("bob")
    return account


async def created(api: Api, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(url, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def hosted_domain(api: Api, runtime: Runtime) -> tuple[dict[str, Any], dict[str, Any]]:
    """site.test as a website with a few files and as a mail domain with a mailbox holding one message, an alias."""
    website = await created(api, "/api/v1/domains", {"name": HOST})
    docroot = Path(website["docroot"])
    (docroot / "css").mkdir()
    (docroot / "css" / "site.css").write_text("body { color: red }\n")
    mail = await created(api, "/api/v1/mail/domains", {"name": HOST})
    await created(
        api,
        f"/api/v1/mail/domains/{mail['id']}/mailboxes",
        {"local_part": "alice", "password": MAILBOX_PASSWORD, "quota_mb": 250},
    )
    await created(
        api, f"/api/v1/mail/domains/{mail['id']}/aliases", {"local_part": "info", "destination": "alice@site.test"}
    )
    maildir = MailPaths.from_settings(runtime.settings).mailbox_home(HOST, "alice") / "Maildir"
    for folder in ("cur", "new", "tmp"):
        (maildir / folder).mkdir(parents=True, exist_ok=True)
    (maildir / "new" / "1700000000.M1P1.host").write_bytes(MESSAGE)
    return website, mail


async def download(api: Api, url: str) -> tuple[Any, dict[str, bytes], dict[str, tarfile.TarInfo]]:
    response = await api.get(url)
    assert response.status_code == 200, response.text
    contents: dict[str, bytes] = {}
    members: dict[str, tarfile.TarInfo] = {}
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        for member in archive.getmembers():
            members[member.name] = member
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                contents[member.name] = handle.read()
    return response, contents, members


async def test_a_domain_export_holds_the_website_the_maildirs_and_a_manifest(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    website, _ = await hosted_domain(user_api, runtime)
    response, contents, _ = await download(user_api, f"/api/v1/domains/{website['id']}/export")
    assert response.headers["content-type"] == "application/gzip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith(f'attachment; filename="{HOST}-') and disposition.endswith('.tar.gz"')
    assert contents[f"{HOST}/website/css/site.css"] == b"body { color: red }\n"
    assert HOST.encode() in contents[f"{HOST}/website/index.html"]
    assert contents[f"{HOST}/mail/alice/Maildir/new/1700000000.M1P1.host"] == MESSAGE
    manifest = json.loads(contents[f"{HOST}/manifest.json"])
    assert manifest["domain"] == HOST
    assert manifest["mailboxes"] == [
        {"address": "alice@site.test", "quota_mb": 250, "folder": f"{HOST}/mail/alice/Maildir/"}
    ]
    assert manifest["aliases"] == [{"address": "info@site.test", "destination": "alice@site.test"}]
    assert manifest["created_at"].endswith("Z")
    assert manifest["skipped_links"] == []


async def test_the_mail_domain_route_exports_the_same_domain(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    _, mail = await hosted_domain(user_api, runtime)
    _, contents, _ = await download(user_api, f"/api/v1/mail/domains/{mail['id']}/export")
    assert contents[f"{HOST}/mail/alice/Maildir/new/1700000000.M1P1.host"] == MESSAGE
    assert f"{HOST}/website/css/site.css" in contents


async def test_a_mail_only_domain_exports_no_website(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    mail = await created(user_api, "/api/v1/mail/domains", {"name": "mailonly.test"})
    _, contents, members = await download(user_api, f"/api/v1/mail/domains/{mail['id']}/export")
    manifest = json.loads(contents["mailonly.test/manifest.json"])
    assert manifest["website"] is None
    assert manifest["mailboxes"] == []
    assert not [name for name in members if "/website" in name]


async def test_an_export_holds_no_password_hash_password_or_key(
    user_api: Api, alice: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    website, _ = await hosted_domain(user_api, runtime)
    pki = make_pki()
    leaf = pki.leaf(HOST)
    upload = {"certificate": leaf.cert_pem, "private_key": leaf.key_pem, "chain": pki.chain_pem}
    assert (await user_api.put(f"/api/v1/domains/{website['id']}/certificate", json=upload)).status_code == 200
    response = await user_api.get(f"/api/v1/domains/{website['id']}/export")
    raw = gzip.decompress(response.content)
    for secret in (b"$argon2", b"ARGON2", MAILBOX_PASSWORD.encode(), b"PRIVATE KEY", b"password"):
        assert secret not in raw


async def test_another_users_domain_cannot_be_exported(
    user_api: Api, alice: Account, bob: Account, runtime: Runtime
) -> None:
    await user_api.login(alice)
    website, mail = await hosted_domain(user_api, runtime)
    await user_api.login(bob)
    for url in (f"/api/v1/domains/{website['id']}/export", f"/api/v1/mail/domains/{mail['id']}/export"):
        response = await user_api.get(url)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    assert (await user_api.get("/api/v1/domains/999999/export")).status_code == 404


async def test_an_export_needs_authentication(user_api: Api, alice: Account, runtime: Runtime) -> None:
    await user_api.login(alice)
    website, _ = await hosted_domain(user_api, runtime)
    user_api.token = None
    assert (await user_api.get(f"/api/v1/domains/{website['id']}/export")).status_code == 401


async def test_symlinks_leaving_the_docroot_are_not_followed(
    user_api: Api, alice: Account, runtime: Runtime, tmp_path: Path
) -> None:
    await user_api.login(alice)
    website, _ = await hosted_domain(user_api, runtime)
    docroot = Path(website["docroot"])
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("TOP SECRET OUTSIDE THE DOCROOT\n")
    os.symlink(secret, docroot / "leak.txt")
    os.symlink("/etc", docroot / "etc")
    os.symlink("../../../..", docroot / "up")
    os.symlink("css/site.css", docroot / "style.css")  # stays inside: kept as a link
    _, contents, members = await download(user_api, f"/api/v1/domains/{website['id']}/export")
    raw_names = set(members)
    for name in ("leak.txt", "etc", "up"):
        assert f"{HOST}/website/{name}" not in raw_names
    assert not any(b"TOP SECRET" in data for data in contents.values())
    assert not any("/website/etc/" in name or "/website/up/" in name for name in raw_names)
    link = members[f"{HOST}/website/style.css"]
    assert link.issym() and link.linkname == "css/site.css"
    manifest = json.loads(contents[f"{HOST}/manifest.json"])
    assert sorted(manifest["skipped_links"]) == [f"{HOST}/website/{name}" for name in ("etc", "leak.txt", "up")]
