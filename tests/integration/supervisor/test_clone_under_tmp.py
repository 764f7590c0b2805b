"""`make run` in a clone under /tmp: `hostplane init` then `hostplane serve` with the embedded defaults, run from a
git clone of this checkout's last commit in a folder under /tmp (world-writable, so OpenDKIM would refuse any key in
the state folder there), with the clone's own package (PYTHONPATH=<clone>/src, working folder the clone).

The DKIM keys go to /var/lib/hostplane/<instance>/dkim instead, `init` says so, the first start reports no drift,
and a message sent through the embedded Postfix arrives signed with a signature that verifies against the TXT
record the API reports. SIGTERM stops everything. The instance's key folder is removed at the end."""

from __future__ import annotations

import contextlib
import imaplib
import os
import shutil
import signal
import smtplib
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import httpx
import pytest

from hostplane.settings import Settings
from hostplane.system import daemons
from hostplane.system.opendkim import instance_id
from hostplane.system.supervisor import end_group, group_members
from tests.conftest import PASSWORD
from tests.integration.mail.conftest import free_ports
from tests.integration.mail.test_dkim import dns_answering_only
from tests.integration.supervisor.conftest import masters

REPO = Path(__file__).resolve().parents[3]
SAFE_ROOT = Path("/var/lib/hostplane")  # the default dkim_safe_root
DOMAIN = "clone.test"
SUBJECT = "Signed from a clone under /tmp"


@pytest.fixture
def clone() -> Iterator[Path]:
    """The last commit of this checkout, cloned into a short folder under /tmp (Dovecot's socket paths must fit)."""
    head = git("-C", str(REPO), "rev-parse", "HEAD").strip()
    root = Path(tempfile.mkdtemp(prefix="hpg-", dir="/tmp"))
    try:
        git("clone", "--quiet", "--no-checkout", str(REPO), str(root))
        git("-C", str(root), "checkout", "--quiet", "--detach", head)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=120).stdout


def environment(clone: Path) -> dict[str, str]:
    """The embedded defaults (state folder `state` in the working folder, DKIM keys wherever they go), with free
    ports and cheap password hashing; the clone's package first on the path."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOSTPLANE_")}
    names = ("USER", "ADMIN", "WEBMAIL", "NGINX_HTTP", "NGINX_HTTPS", "MAIL_SMTP", "MAIL_IMAP", "MAIL_LMTP")
    for name, port in zip((*names, "DKIM_MILTER"), free_ports(len(names) + 1), strict=True):
        env[f"HOSTPLANE_{name}_PORT"] = str(port)
    env.update(
        PYTHONPATH=str(clone / "src"),
        HOSTPLANE_PLAIN_HTTP="true",
        HOSTPLANE_ARGON2_TIME_COST="1",
        HOSTPLANE_ARGON2_MEMORY_KIB="1024",
        HOSTPLANE_MANAGE_SYSTEM_USERS="false",
    )
    return env


def hostplane(clone: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostplane.cli", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fetch_raw(port: int, user: str, subject: str, deadline: float) -> bytes:
    """The whole message as stored, once it arrived (delivery is asynchronous)."""
    while True:
        client = imaplib.IMAP4("127.0.0.1", port, timeout=15)
        try:
            client.login(user, PASSWORD)
            client.select("INBOX", readonly=True)
            _, data = client.search(None, "SUBJECT", f'"{subject}"')
            numbers = data[0].split()
            if numbers:
                _, parts = client.fetch(numbers[0], "(BODY.PEEK[])")
                part = parts[0]
                assert isinstance(part, tuple)
                return part[1]
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()
        assert time.monotonic() < deadline, f"{subject!r} never arrived"
        time.sleep(0.1)


def test_init_and_serve_in_a_clone_under_tmp_sign_the_mail_with_keys_opendkim_accepts(clone: Path) -> None:
    assert Path("/tmp").stat().st_mode & stat.S_IWOTH  # the point: a world-writable folder above the state
    env = environment(clone)
    which = hostplane(clone, env, "--help")
    assert which.returncode == 0, which.stderr
    package = subprocess.run(
        [sys.executable, "-c", "import hostplane; print(hostplane.__file__)"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert package.startswith(f"{clone}/src/"), package
    instance = instance_id(clone / "state")
    keys = SAFE_ROOT / instance / "dkim"
    had_safe_root = SAFE_ROOT.exists()

    log = clone / "serve.log"
    process: subprocess.Popen[bytes] | None = None
    groups: set[int] = set()
    try:
        init = hostplane(clone, env, "init")
        assert init.returncode == 0, init.stdout + init.stderr
        assert (
            f"DKIM keys: {keys} (OpenDKIM would refuse them in the state folder: /tmp is writable by others)"
            in " ".join(init.stdout.split())
        )
        for command in (
            ("user", "create", "alice", "--email", "alice@example.com", "--password", PASSWORD),
            ("mail", "domain", "add", DOMAIN, "--user", "alice"),
            ("mail", "mailbox", "add", f"alice@{DOMAIN}", "--user", "alice", "--password", PASSWORD),
        ):
            done = hostplane(clone, env, *command)
            assert done.returncode == 0, (command, done.stdout + done.stderr)

        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "hostplane.cli", "serve"], cwd=clone, env=env, stdout=sink, stderr=sink
            )
        deadline = time.monotonic() + 120
        while "Logs:" not in log.read_text():
            assert process.poll() is None, f"hostplane serve exited with {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no start-up block:\n{log.read_text()}"
            time.sleep(0.2)
        output = log.read_text()
        assert f"DKIM keys:    {keys}" in output
        for noise in ("Traceback", "desired state:", "Started server process"):
            assert noise not in output, output  # a first start is not drift
        groups = {pid for pid in _daemon_pids(clone) if pid is not None}

        api = f"http://127.0.0.1:{env['HOSTPLANE_USER_PORT']}"
        login = httpx.post(f"{api}/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}, timeout=30)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        domains = httpx.get(f"{api}/api/v1/mail/domains", headers=headers, timeout=30).json()
        (domain_id,) = [item["id"] for item in domains if item["name"] == DOMAIN]
        created = httpx.post(f"{api}/api/v1/mail/domains/{domain_id}/dkim", headers=headers, timeout=60)
        assert created.status_code == 201, created.text
        record = created.json()["dkim"]

        key_file = keys / f"mail._domainkey.{DOMAIN}.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        for folder in (keys, keys.parent):
            info = folder.stat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o755), folder

        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = f"alice@{DOMAIN}", f"alice@{DOMAIN}", SUBJECT
        message.set_content("Signed by the panel of a clone under /tmp.\n")
        with smtplib.SMTP("127.0.0.1", int(env["HOSTPLANE_MAIL_SMTP_PORT"]), timeout=30) as client:
            client.send_message(message)
        raw = fetch_raw(int(env["HOSTPLANE_MAIL_IMAP_PORT"]), f"alice@{DOMAIN}", SUBJECT, time.monotonic() + 60)
        assert b"DKIM-Signature:" in raw, raw[:2000]
        signature = raw.split(b"DKIM-Signature:", 1)[1].split(b"\r\n\r\n", 1)[0]
        assert b"d=clone.test" in signature and b"s=mail" in signature
        assert dkim.verify(raw, dnsfunc=dns_answering_only(record))

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, log.read_text()
        assert not any(_daemon_pids(clone)), log.read_text()
        assert not daemons.port_open("127.0.0.1", int(env["HOSTPLANE_MAIL_SMTP_PORT"]))
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        groups |= {pid for pid in _daemon_pids(clone) if pid is not None}
        for group in groups:  # only if the test failed: nothing is left otherwise
            if group_members(group):
                end_group(group, 1.0)
        shutil.rmtree(SAFE_ROOT / instance, ignore_errors=True)
        if not had_safe_root:
            with contextlib.suppress(OSError):
                SAFE_ROOT.rmdir()


def _daemon_pids(clone: Path) -> list[int | None]:
    """The embedded daemons' master pids, from their pidfiles in the clone's state folder."""
    return list(masters(Settings(state_dir=clone / "state")).values())
