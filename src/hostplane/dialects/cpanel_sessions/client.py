"""The remote-login library call, as this dialect has always offered it; it lives in the core
(`hostplane.websessions.client`) so that `hostplane login-url` uses it without importing a dialect."""

from hostplane.websessions.client import (
    MESSAGES,
    PLAIN_PORTS,
    SECURE_PORTS,
    SERVICES,
    LoginResult,
    login_url,
)

__all__ = ["MESSAGES", "PLAIN_PORTS", "SECURE_PORTS", "SERVICES", "LoginResult", "login_url"]
