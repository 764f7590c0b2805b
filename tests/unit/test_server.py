"""What `hostplane serve` says when it is up: one block with every URL, service, port and log; and none of
uvicorn's lines that it would repeat for each listener."""

from __future__ import annotations

import logging
from pathlib import Path

from hostplane.server import QuietListeners, listeners, startup_block
from hostplane.settings import Settings


def test_the_block_names_every_panel_url_service_port_and_log(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = Settings(
        state_dir=state,
        mail_dir=Path("/srv/mail"),
        plain_twin_ports=True,
        dkim_key_dir=Path("/var/lib/hostplane/keys"),
    )
    block = "\n".join(startup_block(settings))
    assert block.count("Hostplane is serving.") == 1
    for line in (
        "  user panel                 https://127.0.0.1:2083/",
        "  admin panel                https://127.0.0.1:2087/",
        "  webmail panel              https://127.0.0.1:2096/",
        "  user, plain twin panel     http://127.0.0.1:2082/",
        "  admin, plain twin panel    http://127.0.0.1:2086/",
        "  webmail, plain twin panel  http://127.0.0.1:2095/",
        "  nginx     http 127.0.0.1:18080, https 127.0.0.1:18443 (websites)",
        "  postfix   smtp 127.0.0.1:10025",
        "  dovecot   imap 127.0.0.1:10143, lmtp 127.0.0.1:10024",
        "  opendkim  milter 127.0.0.1:18891",
        f"State folder: {state}",
        "DKIM keys:    /var/lib/hostplane/keys",
        "  panel           standard error of this process",
        f"  nginx errors    {state}/nginx/logs/error.log",
        f"  nginx requests  {state}/nginx/logs/access.log",
        "  postfix         /srv/mail/postfix/maillog",
        "  dovecot         /srv/mail/dovecot.log",
        "  opendkim        syslog only (lost when there is no /dev/log)",
    ):
        assert f"\n{line}\n" in f"\n{block}\n", (line, block)


def test_plain_http_panels_have_no_twins_and_without_embedded_services_nothing_else_is_claimed(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path, plain_http=True, plain_twin_ports=True, embedded_services=False, bind_host="::1"
    )
    assert [(item.label, item.url(settings.bind_host)) for item in listeners(settings)] == [
        ("user", "http://[::1]:2083/"),
        ("admin", "http://[::1]:2087/"),
        ("webmail", "http://[::1]:2096/"),
    ]
    block = startup_block(settings)
    assert "  none started by this process (embedded_services is off)" in block
    assert not any(word in line for line in block for word in ("postfix", "dovecot", "opendkim", "nginx", "DKIM"))


def test_uvicorns_lines_per_listener_are_dropped_and_its_errors_kept() -> None:
    quiet = QuietListeners()

    def record(message: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", level, __file__, 1, message, args, None)

    for message, args in (
        ("Started server process [%d]", (42,)),
        ("Uvicorn running on %s://%s:%d (Press CTRL+C to quit)", ("https", "127.0.0.1", 2083)),
        ("Shutting down", ()),
        ("Finished server process [%d]", (42,)),
    ):
        assert not quiet.filter(record(message, *args)), message
    assert quiet.filter(record("[Errno 98] error while attempting to bind on address", level=logging.ERROR))
    assert quiet.filter(record("Stopping the listeners, then the services."))
