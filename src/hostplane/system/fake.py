"""In-memory fakes of the system drivers, for unit tests of the services' logic (never the only test of a feature).

Each fake keeps the contract of its interface (system/interfaces.py) for the rules the services rely on, and the
same conformance tests run against it and against the real driver (tests/unit/system/conformance/ for the fakes,
tests/integration/conformance/ for the real drivers). Each records what it was asked, and can be told to fail
the way the real one fails (`refuse_next`, `fail_on`, ...), so the rollback paths of the units of work can be
tested without nginx, Postfix, Dovecot or OpenDKIM.

`fake_drivers(settings)` bundles them in place of system/drivers.py `build_drivers`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import copy
import datetime as dt
import hashlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acme import challenges, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hostplane.errors import Conflict, InvalidInput, ServiceConfigRejected, ServiceFailed
from hostplane.settings import Settings
from hostplane.system.acme import AcmeProblem, AcmeUnavailable, Http01Challenge, _load_account_key
from hostplane.system.docroots import Docroots, Ids, MovedSite
from hostplane.system.drivers import Drivers
from hostplane.system.maillookup import Drift as LookupDrift
from hostplane.system.maillookup import LookupState, MailboxRow
from hostplane.system.mailpaths import MailPaths
from hostplane.system.nginx import TLS_ID, Applied, ConfigRenderError, Drift, Site, tls_ids, vhost_file
from hostplane.system.opendkim import SigningKey, check_names
from hostplane.system.ssh import SystemUserError, authorized_keys_content, linux_name

# --- websites (nginx) -----------------------------------------------------------------------------------------

_held: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar("hostplane_fake_websites", default=frozenset())

REFUSED = (
    "The web server refused the new configuration (nginx -t failed); the previous configuration stays live and "
    "nothing was changed. The details are in the panel's log."
)


@dataclass
class FakeWebsites:
    """nginx in memory: the live and previous configurations (sets of sites), the certificates' files, the process.

    Like the real driver, it refuses a configuration that names a certificate whose files are missing (nginx -t
    cannot load them), keeps the previous configuration live when it refuses, and prunes the files that neither the
    live nor the previous configuration uses after each apply. `refuse_next()` makes the next apply fail as
    `nginx -t` would; `fail_next_reload()` as a reload would (after the swap: the previous one is put back)."""

    live: tuple[Site, ...] | None = None
    """The sites live now (None: never applied)."""
    previous: tuple[Site, ...] | None = None
    tls_files: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    """tls_id -> (full chain, key) on "disk"."""
    applied: list[tuple[Site, ...]] = field(default_factory=list)
    """Every configuration made live, in order (reconcile and start included)."""
    refused: list[tuple[Site, ...]] = field(default_factory=list)
    """Every configuration refused, in order."""
    is_running: bool = False
    starts: int = 0
    reloads: int = 0
    _failures: list[BaseException] = field(default_factory=list)
    _lock: asyncio.Lock | None = None

    # - telling it to fail -

    def refuse_next(self, times: int = 1, error: BaseException | None = None) -> None:
        """The next `times` applies are refused before anything goes live (as `nginx -t` refuses)."""
        for _ in range(times):
            self._failures.append(error or ServiceConfigRejected(REFUSED))

    def fail_next_reload(self) -> None:
        """The next apply fails at the reload (after the swap): the previous configuration is put back."""
        self._failures.append(ServiceFailed("The web server could not load the new configuration; it was put back."))

    def lose_vhost(self, name: str) -> None:
        """A vhost deleted by hand from the live configuration (what reconcile repairs)."""
        if self.live is not None:
            self.live = tuple(site for site in self.live if site.name != name)

    # - observing -

    @property
    def live_names(self) -> list[str]:
        return [site.name for site in self.live or ()]

    def running(self) -> bool:
        return self.is_running

    # - the interface -

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        key = id(self)
        if key in _held.get():
            yield
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            token = _held.set(_held.get() | {key})
            try:
                yield
            finally:
                _held.reset(token)

    async def apply(self, sites: Iterable[Site]) -> Applied:
        async with self.exclusive():
            return self._apply(sites)

    def _apply(self, sites: Iterable[Site]) -> Applied:
        candidate = tuple(sorted(set(sites)))
        names = [site.name for site in candidate]
        if len(names) != len(set(names)):
            self.refused.append(candidate)
            raise ServiceConfigRejected("The web server configuration could not be built; nothing was changed.")
        if self._failures:
            failure = self._failures.pop(0)
            self.refused.append(candidate)
            raise failure
        if self.missing_tls(candidate):  # nginx -t: cannot load certificate
            self.refused.append(candidate)
            raise ServiceConfigRejected(REFUSED)
        self.previous, self.live = self.live, candidate
        self.applied.append(candidate)
        if self.is_running:
            self.reloads += 1
        in_use = tls_ids(candidate) | tls_ids(self.previous or ())
        self.tls_files = {tls_id: files for tls_id, files in self.tls_files.items() if tls_id in in_use}
        return Applied(
            generation=Path("/fake/nginx/generations") / f"{len(self.applied):020d}", reloaded=self.is_running
        )

    def drift(self, sites: Sequence[Site]) -> Drift:
        if self.live is None:
            return Drift(not_live=True)
        desired = {vhost_file(site.name): site for site in sites}
        live = {vhost_file(site.name): site for site in self.live}
        return Drift(
            missing=sorted(desired.keys() - live.keys()),
            changed=sorted(name for name in desired.keys() & live.keys() if desired[name] != live[name]),
            unexpected=sorted(live.keys() - desired.keys()),
        )

    async def reconcile(self, sites: Iterable[Site]) -> Drift:
        sites = list(sites)
        async with self.exclusive():
            drift = self.drift(sites)
            if not drift.clean:
                self._apply(sites)
                drift.repaired = True
            return drift

    def write_tls_files(self, tls_id: str, fullchain_pem: bytes, key_pem: bytes) -> bool:
        _check_tls_id(tls_id)
        if tls_id in self.tls_files:
            return False
        self.tls_files[tls_id] = (fullchain_pem, key_pem)
        return True

    def remove_tls_files(self, tls_id: str) -> None:
        _check_tls_id(tls_id)
        if tls_id in tls_ids(self.live or ()):
            return
        self.tls_files.pop(tls_id, None)

    def missing_tls(self, sites: Iterable[Site]) -> set[str]:
        return {tls_id for tls_id in tls_ids(sites) if tls_id not in self.tls_files}

    async def start(self, sites: Iterable[Site]) -> None:
        async with self.exclusive():
            self._apply(sites)
            if not self.is_running:
                self.is_running = True
                self.starts += 1

    async def stop(self) -> None:
        self.is_running = False


def _check_tls_id(tls_id: str) -> None:
    if not TLS_ID.fullmatch(tls_id):
        raise ConfigRenderError(f"invalid certificate files id: {tls_id!r}")


# --- docroots -------------------------------------------------------------------------------------------------


@dataclass
class FakeDocroots:
    """The websites' folders in memory: `folders` that exist below `www`, and the `files` written in them."""

    www: Path
    folders: set[Path] = field(default_factory=set)
    files: dict[Path, bytes] = field(default_factory=dict)
    owners: dict[Path, tuple[int, int]] = field(default_factory=dict)
    """Docroot -> (uid, gid) of the account that owns it and its page."""
    fail_on: set[str] = field(default_factory=set)
    """Operations ('create', 'remove', 'move') that raise OSError."""
    _chowned: dict[int, set[Path]] = field(default_factory=dict)

    def _call(self, operation: str) -> None:
        if operation in self.fail_on:
            raise OSError(f"{operation} failed (fake)")

    def path_for(self, username: str, name: str) -> Path:
        return Docroots(self.www).path_for(username, name)  # the real grammar: pure, touches nothing

    def create(self, docroot: Path, page: bytes, owner_ids: tuple[int, int] | None = None) -> list[Path]:
        self._call("create")
        created: list[Path] = []
        current = self.www
        for part in docroot.relative_to(self.www).parts:
            current = current / part
            if current not in self.folders:
                self.folders.add(current)
                created.append(current)
        if not any(docroot in path.parents for path in self.files):
            self.files[docroot / "index.html"] = page
        if owner_ids is not None:
            self.owners[docroot] = owner_ids
        return created

    def remove(self, created: Iterable[Path]) -> None:
        self._call("remove")
        for folder in reversed(list(created)):
            self.folders = {path for path in self.folders if path != folder and folder not in path.parents}
            self.files = {path: data for path, data in self.files.items() if folder not in path.parents}
            self.owners = {
                path: ids for path, ids in self.owners.items() if path != folder and folder not in path.parents
            }

    def missing(self, docroots: Iterable[Path]) -> list[Path]:
        return [path for path in docroots if self.www in path.parents and path not in self.folders]

    def move(self, old_docroot: Path, new_docroot: Path, owners: tuple[Ids, Ids] | None) -> MovedSite:
        """Like the real one: the site's folder (the docroot's parent) goes to the other user's folder, made if
        missing; a folder already there is a conflict; a missing site moves nothing; what `owners[0]` owned in the
        docroot becomes `owners[1]`'s."""
        self._call("move")
        old, new = old_docroot.parent, new_docroot.parent
        for folder in (old, new):
            if self.www not in folder.parents or os.path.normpath(folder) != str(folder):
                raise InvalidInput.on("name", "This is not a valid domain name.", "regex")
        if self.exists(new):
            raise Conflict(f"The folder {new} exists already: move it away or remove it first.")
        moved = MovedSite(old=old, new=new, docroot=new_docroot, owners=owners)
        if new.parent not in self.folders:
            self.folders.add(new.parent)
            moved.made_user_folder = new.parent
        if old not in self.folders:
            return moved
        self._rename(old, new)
        moved.renamed = True
        if owners is not None and owners[0] != owners[1]:
            changed = {path for path, ids in self.owners.items() if _below(path, new_docroot) and ids == owners[0]}
            for path in changed:
                self.owners[path] = owners[1]
            self._chowned[id(moved)] = changed
        return moved

    def move_back(self, moved: MovedSite) -> None:
        for path in self._chowned.pop(id(moved), set()):
            if moved.owners is not None:
                self.owners[path] = moved.owners[0]
        if moved.renamed and not self.exists(moved.old):
            self._rename(moved.new, moved.old)
            moved.renamed = False
        folder = moved.made_user_folder
        if folder is not None and not any(folder in path.parents for path in self.folders | set(self.files)):
            self.folders.discard(folder)
            moved.made_user_folder = None

    def _rename(self, old: Path, new: Path) -> None:
        def moved(path: Path) -> Path:
            return new / path.relative_to(old) if _below(path, old) else path

        self.folders = {moved(path) for path in self.folders}
        self.files = {moved(path): data for path, data in self.files.items()}
        self.owners = {moved(path): ids for path, ids in self.owners.items()}

    def exists(self, path: Path) -> bool:
        return path in self.folders or path in self.files


def _below(path: Path, top: Path) -> bool:
    return path == top or top in path.parents


# --- mail lookup ----------------------------------------------------------------------------------------------


@dataclass
class FakeMailLookup:
    """The lookup rows in memory. `fail_on` operations raise (like a locked SQLite file) before changing anything;
    `fail_after` ones raise after making their change (a change that fails half-way)."""

    state: LookupState = field(default_factory=LookupState)
    ensured: bool = False
    calls: list[tuple[str, ...]] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)
    fail_after: set[str] = field(default_factory=set)

    @contextlib.contextmanager
    def _call(self, operation: str, *arguments: str) -> Iterator[None]:
        self.calls.append((operation, *arguments))
        if operation in self.fail_on:
            raise sqlite3.OperationalError(f"{operation}: database is locked (fake)")
        yield
        if operation in self.fail_after:
            raise sqlite3.OperationalError(f"{operation}: disk I/O error after the change (fake)")

    def ensure(self) -> None:
        with self._call("ensure"):
            self.ensured = True

    def put_domain(self, name: str) -> None:
        with self._call("put_domain", name):
            self.state.domains.add(name)

    def remove_domain(self, name: str) -> None:
        with self._call("remove_domain", name):
            self.state.mailboxes = {a: row for a, row in self.state.mailboxes.items() if row.domain != name}
            self.state.aliases = {(s, d) for s, d in self.state.aliases if s.rpartition("@")[2] != name}
            self.state.domains.discard(name)

    def put_mailbox(self, row: MailboxRow) -> None:
        with self._call("put_mailbox", row.address):
            self.state.mailboxes[row.address] = row

    def remove_mailbox(self, address: str) -> None:
        with self._call("remove_mailbox", address):
            self.state.mailboxes.pop(address, None)

    def set_password(self, address: str, password: str) -> None:
        with self._call("set_password", address):
            row = self.state.mailboxes.get(address)
            if row is None:
                raise LookupError(f"no lookup row for {address}")
            self.state.mailboxes[address] = MailboxRow(address, password, row.home, row.quota_mb)

    def put_alias(self, source: str, destination: str) -> None:
        with self._call("put_alias", source, destination):
            self.state.aliases.add((source, destination))

    def remove_alias(self, source: str, destination: str) -> None:
        with self._call("remove_alias", source, destination):
            self.state.aliases.discard((source, destination))

    def read(self) -> LookupState:
        return copy.deepcopy(self.state)

    def rebuild(self, desired: LookupState) -> LookupDrift:
        with self._call("rebuild"):
            self.ensured = True
            current = self.state
            drift = LookupDrift()
            drift.missing += [f"domain {name}" for name in sorted(desired.domains - current.domains)]
            drift.extra += [f"domain {name}" for name in sorted(current.domains - desired.domains)]
            drift.missing += [f"mailbox {a}" for a in sorted(desired.mailboxes.keys() - current.mailboxes.keys())]
            drift.extra += [f"mailbox {a}" for a in sorted(current.mailboxes.keys() - desired.mailboxes.keys())]
            for address in sorted(desired.mailboxes.keys() & current.mailboxes.keys()):
                if desired.mailboxes[address] != current.mailboxes[address]:
                    drift.changed.append(f"mailbox {address}")
            drift.missing += [f"alias {s} -> {d}" for s, d in sorted(desired.aliases - current.aliases)]
            drift.extra += [f"alias {s} -> {d}" for s, d in sorted(current.aliases - desired.aliases)]
            if not drift.clean:
                self.state = copy.deepcopy(desired)
            return drift


# --- the mailbox server (Dovecot) -----------------------------------------------------------------------------


@dataclass
class FakeMailboxDaemon:
    """Dovecot's side of mailbox changes: the sessions it was told to end, and the mail folders that exist (a test
    adds one to `maildirs` where a real server would have delivered mail) and what became of them."""

    archive_root: Path
    maildirs: set[Path] = field(default_factory=set)
    kicks: list[str] = field(default_factory=list)
    archived: dict[str, Path] = field(default_factory=dict)
    """label -> the folder moved to the archive under it."""
    removed: list[Path] = field(default_factory=list)

    async def kick(self, address: str) -> None:
        self.kicks.append(address)

    def dispose_maildir(self, home: Path, *, archive: bool, label: str) -> str:
        inside = {path for path in self.maildirs if path == home or home in path.parents}
        if not inside:
            return "absent"
        self.maildirs -= inside
        if not archive:
            self.removed.append(home)
            return "removed"
        self.archived[label] = home
        return "archived"

    def archive_path(self, label: str) -> Path:
        return self.archive_root / label


# --- the DKIM signer ------------------------------------------------------------------------------------------


@dataclass
class FakeDkimSigner:
    """The signer's keys in memory, one per domain; `reloads` counts the times the signer was told to re-read."""

    key_dir: Path = Path("/fake/dkim-keys")
    keys: dict[tuple[str, str], bytes] = field(default_factory=dict)
    """(domain, selector) -> private key PEM."""
    reloads: int = 0
    fail_on: set[str] = field(default_factory=set)
    """Operations ('put_key', 'remove_key', 'sync_keys') that raise OSError."""

    def _call(self, operation: str) -> None:
        if operation in self.fail_on:
            raise OSError(f"{operation} failed (fake)")

    def put_key(self, domain: str, selector: str, private_pem: bytes) -> None:
        check_names(domain, selector)
        self._call("put_key")
        self.keys = {key: pem for key, pem in self.keys.items() if key[0] != domain}
        self.keys[(domain, selector)] = private_pem
        self.reloads += 1

    def remove_key(self, domain: str) -> bool:
        self._call("remove_key")
        found = [key for key in self.keys if key[0] == domain]
        for key in found:
            del self.keys[key]
        if found:
            self.reloads += 1
        return bool(found)

    def sync_keys(self, wanted: dict[tuple[str, str], bytes]) -> list[str]:
        for domain, selector in wanted:
            check_names(domain, selector)
        self._call("sync_keys")
        drift = []
        for (domain, selector), pem in sorted(wanted.items()):
            if self.keys.get((domain, selector)) != pem:
                state = "rewritten" if (domain, selector) in self.keys else "added"
                drift.append(f"dkim key {selector}._domainkey.{domain} {state}")
        for domain, selector in sorted(self.keys.keys() - wanted.keys()):
            drift.append(f"dkim key {selector}._domainkey.{domain} removed (no such key in the panel)")
        self.keys = dict(wanted)
        if drift:
            self.reloads += 1
        return drift

    def installed_keys(self) -> list[SigningKey]:
        return [
            SigningKey(domain, selector, self.key_dir / f"{selector}._domainkey.{domain}.key")
            for domain, selector in sorted(self.keys)
        ]


# --- system users ---------------------------------------------------------------------------------------------


@dataclass
class RecordingSystemUsers:
    """Remembers the accounts and keys the services asked for; `fail_on` makes the named operations fail."""

    home_root: Path = Path("/srv/hostplane/home")
    users: set[str] = field(default_factory=set)
    """Panel usernames whose Linux account exists."""
    keys: dict[str, list[str]] = field(default_factory=dict)
    """The authorized_keys lines last written, per panel username."""
    calls: list[tuple[str, str]] = field(default_factory=list)
    """(operation, username) in call order."""
    fail_on: set[str] = field(default_factory=set)
    """Operations ('ensure_user', 'remove_user', 'write_authorized_keys') that raise SystemUserError."""
    ids: dict[str, tuple[int, int]] = field(default_factory=dict)
    """(uid, gid) given to each account, as useradd would."""

    def home_of(self, username: str) -> Path:
        return self.home_root / linux_name(username)

    def _call(self, operation: str, username: str) -> None:
        self.calls.append((operation, username))
        if operation in self.fail_on:
            raise SystemUserError(f"{operation} failed (fake)")

    async def ensure_user(self, username: str) -> Path:
        self._call("ensure_user", username)
        self.users.add(username)
        await self.account_ids(username)  # its ids, as useradd gives them
        return self.home_of(username)

    async def remove_user(self, username: str) -> None:
        self._call("remove_user", username)
        self.users.discard(username)
        self.keys.pop(username, None)
        self.ids.pop(username, None)

    async def account_ids(self, username: str) -> tuple[int, int] | None:
        if username not in self.users:
            return None
        if username not in self.ids:
            number = 20000 + len(self.ids)
            self.ids[username] = (number, number)
        return self.ids[username]

    async def write_authorized_keys(self, username: str, keys: Sequence[str]) -> None:
        content = authorized_keys_content(keys)  # the real driver's validation, so a bad line fails here too
        self._call("write_authorized_keys", username)
        if username not in self.users:
            if not keys:
                return
            raise SystemUserError(f"no Linux account for {username} (fake)")
        self.keys[username] = content.decode().splitlines()


# --- an ACME CA -----------------------------------------------------------------------------------------------


@dataclass
class FakeOrder:
    hostname: str
    csr_pem: bytes
    account_url: str
    challenges: list[Http01Challenge]
    answered: dict[str, bool] = field(default_factory=dict)
    """token -> whether the answer validated."""


class FakeAcmeCa:
    """A CA in memory that issues real certificates (for the CSR's key and name, signed by its own CA key), and the
    client factory that talks to it (pass it where an AcmeClientFactory goes).

    Like a real CA: the account URL is the same for the same key; a wildcard gets no HTTP-01 challenge; an order is
    finalized only after its challenges were answered; with `webroot`, an answer validates only if the key
    authorization is served there at that moment (HTTP-01). `refusals` are raised by new_order, one per call."""

    def __init__(self, *, webroot: Path | None = None, refusals: Iterable[AcmeProblem] = ()) -> None:
        self.webroot = webroot
        self.refusals = list(refusals)
        self.accounts: dict[str, str] = {}
        """Account key thumbprint -> account URL."""
        self.orders: list[FakeOrder] = []
        self.served: list[str] = []
        """What was found at the challenge URL each time an answer was checked ("" when nothing)."""
        self.issued: list[x509.Certificate] = []
        self.clients: list[FakeAcmeClient] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hostplane fake ACME CA")])
        self.ca_certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def ca_pem(self) -> str:
        return self.ca_certificate.public_bytes(serialization.Encoding.PEM).decode()

    def __call__(self, settings: Settings, account_key_pem: bytes) -> FakeAcmeClient:
        client = FakeAcmeClient(self, account_key_pem)
        self.clients.append(client)
        return client

    def issue(self, hostname: str, csr_pem: bytes, days: int = 90) -> str:
        csr = x509.load_pem_x509_csr(csr_pem)
        now = dt.datetime.now(dt.UTC)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(self.ca_certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.issued.append(leaf)
        return leaf.public_bytes(serialization.Encoding.PEM).decode() + self.ca_pem


class FakeAcmeClient:
    """One conversation with a FakeAcmeCa (the AcmeProtocol interface)."""

    def __init__(self, ca: FakeAcmeCa, account_key_pem: bytes) -> None:
        self.ca = ca
        self.key, _alg = _load_account_key(account_key_pem)
        self.thumbprint = base64.urlsafe_b64encode(self.key.thumbprint()).decode().rstrip("=")
        self.account_url: str | None = None
        self.closed = False

    def register(self, email: str | None) -> str:
        self.account_url = self.ca.accounts.setdefault(
            self.thumbprint, f"https://ca.fake/acme/acct/{len(self.ca.accounts) + 1}"
        )
        return self.account_url

    def new_order(self, hostname: str, csr_pem: bytes) -> FakeOrder:
        if self.account_url is None:
            raise AcmeProblem(
                {"type": "urn:ietf:params:acme:error:accountDoesNotExist", "detail": "no account for this key"}
            )
        if self.ca.refusals:
            raise self.ca.refusals.pop(0)
        order = FakeOrder(hostname, csr_pem, self.account_url, [])
        if not hostname.startswith("*."):  # a wildcard is offered DNS-01 only
            number = len(self.ca.orders) + 1
            chall = challenges.HTTP01(token=hashlib.sha256(f"{self.thumbprint}/{number}".encode()).digest())
            body = messages.ChallengeBody(chall=chall, uri=f"https://ca.fake/acme/chall/{number}")
            response, validation = body.response_and_validation(self.key)
            order.challenges.append(Http01Challenge(hostname, chall.encode("token"), validation, body, response))
        self.ca.orders.append(order)
        return order

    def http01_challenges(self, order: FakeOrder) -> list[Http01Challenge]:
        if not order.challenges:
            raise AcmeProblem(
                {
                    "type": "urn:ietf:params:acme:error:unsupportedIdentifier",
                    "detail": f"The certificate authority offers no HTTP-01 challenge for {order.hostname}.",
                }
            )
        return [challenge for challenge in order.challenges if challenge.token not in order.answered]

    def answer(self, challenge: Http01Challenge) -> None:
        order = next(order for order in self.ca.orders if challenge in order.challenges)
        valid = True
        if self.ca.webroot is not None:
            path = self.ca.webroot / ".well-known" / "acme-challenge" / challenge.token
            try:
                served = path.read_text()
            except OSError:
                served = ""
            self.ca.served.append(served)
            valid = served == challenge.key_authorization
        order.answered[challenge.token] = valid

    def finalize(self, order: FakeOrder, timeout: float) -> str:
        if any(challenge.token not in order.answered for challenge in order.challenges) or not order.challenges:
            raise AcmeUnavailable("the certificate authority did not finish the order in time")
        if not all(order.answered.values()):
            detail = f"The certificate authority could not validate {order.hostname}: the answer was not served"
            raise AcmeProblem(
                {
                    "type": "urn:ietf:params:acme:error:unauthorized",
                    "detail": detail,
                    "subproblems": [
                        {
                            "type": "urn:ietf:params:acme:error:unauthorized",
                            "detail": "the key authorization was not served",
                            "identifier": {"type": "dns", "value": order.hostname},
                        }
                    ],
                }
            )
        return self.ca.issue(order.hostname, order.csr_pem)

    def close(self) -> None:
        self.closed = True


# --- the bundle -----------------------------------------------------------------------------------------------


@dataclass
class FakeDrivers(Drivers):
    """Every driver faked (the field types say which fake, for the tests that set them up)."""

    websites: FakeWebsites
    docroots: FakeDocroots
    mail_lookup: FakeMailLookup
    mailboxes: FakeMailboxDaemon
    dkim: FakeDkimSigner
    system_users: RecordingSystemUsers
    acme: FakeAcmeCa


def fake_drivers(settings: Settings) -> FakeDrivers:
    """The fakes, placed where the settings would put the real drivers' files (nothing is written there)."""
    paths = MailPaths.from_settings(settings)
    return FakeDrivers(
        websites=FakeWebsites(),
        docroots=FakeDocroots(settings.resolved_www_dir),
        mail_lookup=FakeMailLookup(),
        mailboxes=FakeMailboxDaemon(paths.archive),
        dkim=FakeDkimSigner((settings.dkim_key_dir or paths.root / "dkim-keys").absolute()),
        system_users=RecordingSystemUsers(settings.system_users_home),
        acme=FakeAcmeCa(webroot=settings.resolved_acme_webroot),
    )
