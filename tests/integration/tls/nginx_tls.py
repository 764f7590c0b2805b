"""TLS helpers for the integration tests: a handshake with a chosen SNI name against our nginx, returning the
certificate it presented (and optionally the page behind it)."""

from __future__ import annotations

import hashlib
import socket
import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class Handshake:
    fingerprint: str
    """SHA-256 of the presented certificate's DER, lowercase hex."""
    response: bytes


def handshake(
    port: int, server_name: str | None, *, cadata: str | None = None, path: str = "/", host: str | None = None
) -> Handshake:
    """Connect to 127.0.0.1:port with that SNI (None: no SNI). With `cadata` the certificate is verified for the
    name as a browser would; then one HTTP/1.0 GET is made. Raises ssl.SSLError if the handshake is refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cadata is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cadata=cadata)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        request = f"GET {path} HTTP/1.0\r\nHost: {host or server_name or 'localhost'}\r\n\r\n"
        tls.sendall(request.encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return Handshake(hashlib.sha256(der).hexdigest(), b"".join(chunks))
