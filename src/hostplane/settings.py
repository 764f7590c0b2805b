"""Settings of one Hostplane process: built once at start-up and passed down, never imported as a global."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Every knob of the panel; env prefix `HOSTPLANE_`, optionally `hostplane.toml` in the working folder."""

    model_config = SettingsConfigDict(
        env_prefix="HOSTPLANE_",
        toml_file="hostplane.toml",
        extra="forbid",
        frozen=True,
    )

    state_dir: Path = Path("state")
    database_url: str | None = None
    """SQLAlchemy async URL; default: SQLite in the state folder."""
    secret_key_file: Path | None = None
    """Key file (32 random bytes, base64) outside the database; default: state_dir/secret.key."""

    bind_host: str = "127.0.0.1"
    user_port: int = Field(default=2083, ge=1, le=65535)
    admin_port: int = Field(default=2087, ge=1, le=65535)
    plain_http: bool = False
    """Serve without TLS; only allowed when bound to loopback (development)."""
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    access_token_seconds: int = Field(default=3600, ge=60, le=86400 * 30)
    login_challenge_seconds: int = Field(default=300, ge=30, le=3600)
    totp_issuer: str = Field(default="Hostplane", min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f:]+$")

    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19456, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    password_min_length: int = Field(default=8, ge=8)
    password_max_length: int = Field(default=128, ge=64, le=1024)
    hash_threads: int = Field(default=1, ge=1)
    """Threads that hash passwords: bounded so a login storm never starves the event loop of CPU."""

    throttle_free_failures: int = Field(default=5, ge=1)
    """Failures allowed on one account or address before delays start."""
    throttle_base_seconds: float = Field(default=1.0, gt=0)
    throttle_max_seconds: float = Field(default=900.0, gt=0)
    """Delays double up to this cap, so nobody (the admin included) is ever locked out for good."""

    trusted_proxies: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list)
    """Peers (IPs or CIDRs) whose X-Forwarded-For is believed; all others are taken at their socket address."""

    auth_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    """How long a verified credential is reused without a database lookup. Changes made through this process
    apply at once; changes made by another process (CLI, other workers) within this many seconds. 0 = off."""

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_api_keys_per_user: int = Field(default=25, ge=1)
    max_allowed_ips_per_key: int = Field(default=50, ge=1)

    # --- mail (Postfix + Dovecot, embedded layout) -------------------------------------------------------
    mail_dir: Path | None = None
    """Mail state (configs, lookup tables, Maildirs, archive); default: state_dir/mail. Keep the path short
    (Dovecot's unix sockets live under it) and its parents traversable (o+x) by the postfix and vmail users."""
    mail_bind_host: str = "127.0.0.1"
    mail_smtp_port: int = Field(default=10025, ge=1, le=65535)
    mail_imap_port: int = Field(default=10143, ge=1, le=65535)
    mail_lmtp_port: int = Field(default=10024, ge=1, le=65535)
    mail_hostname: str = Field(
        default="mail.hostplane.test", max_length=253, pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"
    )
    mail_vmail_user: str = Field(default="vmail", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    mail_vmail_uid: int = Field(default=5000, ge=500, le=65000)
    mail_default_quota_mb: int = Field(default=1024, ge=0)
    """Quota of a new mailbox when none is given; 0 = unlimited."""
    # --- end mail

    # --- websites (nginx) ---------------------------------------------------------------------------------
    embedded_services: bool = True
    """`hostplane serve` starts and stops the panel's own service instances (the embedded layout)."""
    nginx_layout: Literal["embedded", "system"] = "embedded"
    """embedded: our own nginx under state_dir/nginx on a loopback high port; system: the host's nginx, with our
    vhosts included from /etc/nginx/conf.d/hostplane.conf and served on port 80."""
    nginx_binary: Path = Path("/usr/sbin/nginx")
    nginx_bind_address: str = "127.0.0.1"
    nginx_http_port: int = Field(default=18080, ge=1, le=65535)
    nginx_system_conf_dir: Path = Path("/etc/nginx")
    nginx_reload_timeout: float = Field(default=10.0, gt=0, le=120)
    www_dir: Path | None = None
    """Where website docroots live (www/<username>/<domain>/public); default: state_dir/www."""
    acme_webroot: Path | None = None
    """Served on every vhost at /.well-known/acme-challenge/ (files go in <acme_webroot>/.well-known/acme-challenge/);
    default: state_dir/acme."""

    @property
    def resolved_www_dir(self) -> Path:
        return (self.www_dir or self.state_dir / "www").absolute()

    @property
    def resolved_acme_webroot(self) -> Path:
        return (self.acme_webroot or self.state_dir / "acme").absolute()

    # --- end websites

    # --- system users and SSH keys --------------------------------------------------------------------------
    manage_system_users: bool = True
    """Give each hosting user (role 'user') the Linux account hp-<username>, whose ~/.ssh/authorized_keys holds the
    user's SSH keys (needs root). Off: keys are only stored."""
    system_users_home: Path = Path("/srv/hostplane/home")
    """Parent of those accounts' homes. Not inside the state folder: that one is private (0700), while sshd reads
    authorized_keys as the user, so every folder on this path must be root-owned, not group/world-writable, o+x."""
    # --- end system users

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.user_port == self.admin_port:
            raise ValueError("user_port and admin_port must differ")
        if self.plain_http and not _is_loopback(self.bind_host):
            raise ValueError("plain_http is only allowed when bind_host is a loopback address")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.state_dir / 'hostplane.db').absolute()}"

    @property
    def resolved_secret_key_file(self) -> Path:
        return self.secret_key_file or self.state_dir / "secret.key"

    @property
    def resolved_tls_files(self) -> tuple[Path, Path]:
        if self.tls_cert_file and self.tls_key_file:
            return self.tls_cert_file, self.tls_key_file
        return self.state_dir / "tls" / "panel.crt", self.state_dir / "tls" / "panel.key"

    @cached_property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the optional TOML file and explicit overrides."""
    return Settings(**overrides)
