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

    # --- DKIM (OpenDKIM milter signing for mail domains; mail/dkim.py, system/opendkim.py) ---------------
    dkim_milter_port: int = Field(default=18891, ge=1, le=65535)
    """OpenDKIM listens on mail_bind_host:<this>; Postfix passes every message through it and defers mail
    (tempfail) while it is down, so mail we promised to sign never leaves unsigned."""
    dkim_selector: str = Field(default="mail", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    """Selector of new keys: the TXT record is <selector>._domainkey.<domain>."""
    dkim_key_dir: Path | None = None
    """Private key files for OpenDKIM (opendkim:opendkim 0600). OpenDKIM refuses keys when a folder on this path
    can be written by anyone but root and opendkim (so never under /tmp or a user's home): pick a root-owned 0755
    path such as /var/lib/hostplane/dkim-keys. Default: <mail_dir>/dkim-keys when OpenDKIM accepts it, otherwise
    <dkim_safe_root>/<instance>/dkim (instance: 12 hex digits of the hash of the state folder's real path)."""
    dkim_safe_root: Path = Path("/var/lib/hostplane")
    """Where the default key folder goes when the state folder cannot hold it (a clone under /tmp or a home);
    made root-owned 0755 when missing."""
    dkim_require_safe_keys: bool = True
    """OpenDKIM's RequireSafeKeys; turning it off is only for development trees that cannot meet the rule."""
    dkim_spf_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    """The server's public IP address for the suggested SPF record (ip4:/ip6:); unset: `mx`."""
    dkim_dmarc_report_address: str | None = Field(default=None, max_length=254, pattern=r"^[^\s;,!@]+@[^\s;,!@]+$")
    """Where the suggested DMARC record asks for aggregate reports (rua=mailto:...); unset: no rua tag."""
    # --- end DKIM

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

    # --- TLS certificates of the websites (H5) ---------------------------------------------------------------
    nginx_https_port: int | None = Field(default=None, ge=1, le=65535)
    """Where websites with a certificate answer TLS; default: 18443 (embedded layout), 443 (system layout)."""

    @property
    def resolved_nginx_https_port(self) -> int:
        if self.nginx_https_port is not None:
            return self.nginx_https_port
        return 18443 if self.nginx_layout == "embedded" else 443

    # --- end TLS certificates

    # --- system users and SSH keys --------------------------------------------------------------------------
    manage_system_users: bool = True
    """Give each hosting user (role 'user') the Linux account hp-<username>, whose ~/.ssh/authorized_keys holds the
    user's SSH keys (needs root). Off: keys are only stored."""
    system_users_home: Path = Path("/srv/hostplane/home")
    """Parent of those accounts' homes. Not inside the state folder: that one is private (0700), while sshd reads
    authorized_keys as the user, so every folder on this path must be root-owned, not group/world-writable, o+x."""
    # --- end system users

    # --- supervisor (system/supervisor.py: the embedded services `hostplane serve` runs) -------------------
    services_check_seconds: float = Field(default=10.0, gt=0, le=3600)
    """How often `hostplane serve` checks each of its own services; a dead one is restarted (and logged)."""
    # --- end supervisor

    # --- jobs and ACME certificates (jobs/, system/acme.py, tls/acme.py) ------------------------------------
    jobs_concurrency: int = Field(default=2, ge=1, le=32)
    """Jobs one process runs at once; the others wait, queued."""
    jobs_progress_interval: float = Field(default=0.5, ge=0, le=60)
    """At most one progress write per job in this many seconds (a finished step is always written)."""
    acme_directory_url: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory", max_length=500, pattern=r"^https://[^\s]+$"
    )
    """The ACME CA's directory (Let's Encrypt production by default; Pebble in tests)."""
    acme_contact_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s:,]+@[^@\s:,]+$")
    """Given to the CA with the account (expiry notices); none: an account without contact."""
    acme_ca_bundle: Path | None = None
    """CA certificates that verify the ACME server's own TLS certificate (Pebble's in tests); none: the system's."""
    acme_network_timeout: float = Field(default=30.0, gt=0, le=300)
    acme_order_timeout: float = Field(default=120.0, gt=0, le=3600)
    """How long validation and issuance of one order may take before the job fails."""
    acme_renew_before_days: int = Field(default=30, ge=1, le=89)
    acme_renew_interval: float = Field(default=12 * 3600.0, ge=1, le=7 * 86400)
    """Seconds between two renewal rounds of `hostplane serve`."""
    acme_rate_limit_max_wait: float = Field(default=300.0, ge=0, le=3600)
    """Longest Retry-After a job waits out before trying again; a longer one fails the job (and is recorded)."""
    acme_rate_limit_retries: int = Field(default=2, ge=0, le=10)
    # --- end jobs and ACME

    # --- EasySuperSecureEmail dialect (admin port; dialects/easymail) ----------------------------------------
    easymail_prefix: str = Field(default="/easymail", max_length=64, pattern=r"^(/[a-z0-9][a-z0-9._-]*)+$")
    """Where the EasySuperSecureEmail API lives on the admin port: its API_URL is https://<host>:<admin_port><prefix>
    (so POST <prefix>/auth, GET <prefix>/domains...). Must stay outside /api/v1 and /api/client (JSON-only)."""

    @field_validator("easymail_prefix")
    @classmethod
    def _easymail_prefix_is_its_own(cls, value: str) -> str:
        taken = ("/api/v1", "/api/client", "/json-api", "/openapi.json")
        if ".." in value or any(value == t or value.startswith(t + "/") or t.startswith(value + "/") for t in taken):
            raise ValueError("easymail_prefix must not overlap /api/v1, /api/client, /json-api or /openapi.json")
        return value

    # --- end EasySuperSecureEmail

    # --- cPanel secure remote logins (web sessions, webmail port, plain twins) -------------------------------
    webmail_port: int = Field(default=2096, ge=1, le=65535)
    """Webmaild's port: mailbox users log in here with their address and mailbox password."""
    plain_twin_ports: bool = False
    """Also serve each port's app without TLS on cPanel's plain twin (2082 for 2083, 2086 for 2087, 2095 for
    2096, or the port numbers below). Passwords and cookies cross those in clear: for trusted networks only."""
    user_plain_port: int = Field(default=2082, ge=1, le=65535)
    admin_plain_port: int = Field(default=2086, ge=1, le=65535)
    webmail_plain_port: int = Field(default=2095, ge=1, le=65535)
    web_session_idle_seconds: int = Field(default=900, ge=30, le=86400)
    """A cPanel-style session (cookie + /cpsess token) ends after this long without a request (cPanel: 15 min)."""
    panel_hostname: str = Field(default="localhost", max_length=253, pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
    """The host name one-time login URLs point at (WHM create_user_session without `preferred_domain`)."""
    one_time_login_seconds: int = Field(default=120, ge=10, le=3600)
    """How long a one-time login URL (create_user_session, hostplane login-url) may wait to be used."""

    @model_validator(mode="after")
    def _service_ports_differ(self) -> Settings:
        if self.user_port == self.admin_port:
            return self  # _coherent names that one
        ports = [self.user_port, self.admin_port, self.webmail_port]
        if self.plain_twin_ports:
            ports += [self.user_plain_port, self.admin_plain_port, self.webmail_plain_port]
        if len(set(ports)) != len(ports):
            raise ValueError("the service ports (user, admin, webmail and their plain twins) must all differ")
        return self

    # --- end cPanel secure remote logins

    # --- plans and the OpenPanel dashboard (accounts/limits.py, dialects/openpanel) ------------------------------
    plan_disk_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    """How long a measured disk use (docroots + Maildirs) is reused before the tree is walked again; 0 = always
    measure. Creates are refused once the measured use reaches the plan's disk limit."""
    openpanel_ip_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    """The server address the OpenPanel dashboard shows (`ip_address`); unset: nginx_bind_address."""
    openpanel_nameservers: list[Annotated[str, Field(max_length=253, pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")]] = (
        Field(default_factory=list, max_length=4)
    )
    """Up to four name servers, shown as ns1..ns4 (missing ones as "")."""
    openpanel_custom_message: str | None = Field(default=None, max_length=1000, pattern=r"^[^\x00-\x1f\x7f]*$")
    openpanel_knowledge_base_link: str = Field(default="", max_length=500, pattern=r"^(https://[^\s]+)?$")
    # --- end plans and OpenPanel

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
