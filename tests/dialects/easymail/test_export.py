"""GET /export/domain: the domain's archive (tar.gz, streamed) through the core ExportService, sent as the
reference's curl line shows (a form field on a GET)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from typing import Any

from hostplane.runtime import Runtime
from hostplane.system.mailpaths import MailPaths
from tests.dialects.easymail.conftest import MAILBOX_PASSWORD
from tests.dialects.easymail.easy import Easy, assert_failure
from tests.dialects.easymail.test_reference_examples import create_domain


def members(archive: bytes) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            found[member.name] = handle.read() if handle else b""
    return found


async def test_export_domain_streams_the_mail_of_the_domain_as_tar_gz(alice_easy: Easy, runtime: Runtime) -> None:
    created = await create_domain(alice_easy, "example.com", "admin")
    await alice_easy.call("POST", f"/user/{created['domain']['id']}", {"email": "bob", "password": MAILBOX_PASSWORD})
    maildir = MailPaths.from_settings(runtime.settings).mailbox_home("example.com", "bob") / "Maildir"
    (maildir / "new").mkdir(parents=True)
    (maildir / "new" / "1.eml").write_bytes(b"Subject: kept\r\n\r\nhello\r\n")

    response = await alice_easy.call("GET", "/export/domain", {"domain": "example.com"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="example.com-') and disposition.endswith('.tar.gz"')
    files = members(response.content)
    manifest = json.loads(files["example.com/manifest.json"])
    assert manifest["domain"] == "example.com"
    assert [box["address"] for box in manifest["mailboxes"]] == ["admin@example.com", "bob@example.com"]
    assert files["example.com/mail/bob/Maildir/new/1.eml"] == b"Subject: kept\r\n\r\nhello\r\n"
    assert MAILBOX_PASSWORD.encode() not in response.content
    assert b"argon2" not in b"".join(files.values())


async def test_export_domain_accepts_the_domain_as_a_query_parameter(alice_easy: Easy) -> None:
    await create_domain(alice_easy, "example.com", "admin")
    response = await alice_easy.call("GET", "/export/domain", {"domain": "Example.COM"}, encoding="query")
    assert response.status_code == 200
    assert "example.com/manifest.json" in members(response.content)


async def test_export_of_an_unknown_or_another_users_domain_is_404(
    alice_easy: Easy, make_account: Callable[..., Any]
) -> None:
    bob = Easy(alice_easy.api)
    await bob.auth(await make_account("bob"))
    await create_domain(bob, "bob.example", "boss")
    for domain in ("bob.example", "nope.example"):
        assert_failure(await alice_easy.call("GET", "/export/domain", {"domain": domain}), 404)
    for bad in ("../../etc", "bob.example/../x", "a\r\nb.example", ""):
        assert_failure(await alice_easy.call("GET", "/export/domain", {"domain": bad}), 400)
    assert (await bob.call("GET", "/export/domain", {"domain": "bob.example"})).status_code == 200
