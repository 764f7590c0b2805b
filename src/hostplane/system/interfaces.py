"""The drivers as the services see them: one `typing.Protocol` per driver, each kept by a real driver (the module
named in its docstring) and by an in-memory fake (system/fake.py) that the same conformance tests run against
(tests/unit/system/conformance/ and tests/integration/conformance/).

Services depend on these interfaces only; the real drivers are composed in one place (system/drivers.py
`build_drivers`, called by `build_runtime`), and unit tests put the fakes in their place on the runtime.

A method here is in the contract because a service calls it, or because it is how a caller observes what the
driver made live (`drift`, `read`, `installed_keys`): nothing else of a real driver (its layout, its daemon,
its files) is promised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from hostplane.settings import Settings
from hostplane.system.acme import Http01Challenge
from hostplane.system.docroots import Ids, MovedSite
from hostplane.system.maillookup import Drift as LookupDrift
from hostplane.system.maillookup import LookupState, MailboxRow
from hostplane.system.nginx import Applied, Drift, Site
from hostplane.system.opendkim import SigningKey
from hostplane.system.ssh import SystemUsers

__all__ = [
    "AcmeClientFactory",
    "AcmeProtocol",
    "DkimSigner",
    "DocrootStore",
    "MailLookupTables",
    "MailboxDaemon",
    "SystemUsers",
    "WebsitesDriver",
]


class WebsitesDriver(Protocol):
    """The web server as the websites' unit of work drives it (system/nginx.py NginxDriver).

    Contract (tests/*/conformance/test_websites_driver.py):
    - `apply(sites)` makes exactly those sites live (`drift(sites).clean`), or raises ServiceConfigRejected /
      ServiceFailed and leaves the previous configuration live. A configuration naming a certificate whose files
      are missing is refused.
    - `exclusive()` orders changes (one at a time, across processes) and is re-entrant within a task: a unit of
      work holds it and calls `apply` inside.
    - `write_tls_files` writes a certificate's files once (True when written now); `missing_tls` names the ids
      sites use whose files are gone; `remove_tls_files` keeps files the live configuration uses; an apply prunes
      the files neither the live nor the previous configuration uses.
    - `reconcile(sites)` reports what differed from `sites` and applies them again if anything did.
    """

    def exclusive(self) -> AbstractAsyncContextManager[None]: ...

    async def apply(self, sites: Iterable[Site]) -> Applied: ...

    def drift(self, sites: Sequence[Site]) -> Drift:
        """What the live configuration lacks or has beyond `sites` (read only; blocking)."""
        ...

    async def reconcile(self, sites: Iterable[Site]) -> Drift: ...

    def write_tls_files(self, tls_id: str, fullchain_pem: bytes, key_pem: bytes) -> bool: ...

    def remove_tls_files(self, tls_id: str) -> None: ...

    def missing_tls(self, sites: Iterable[Site]) -> set[str]: ...

    async def start(self, sites: Iterable[Site]) -> None:
        """Apply `sites` and run the web server (embedded layout)."""
        ...

    async def stop(self) -> None: ...

    def running(self) -> bool: ...


class DocrootStore(Protocol):
    """The websites' folders (system/docroots.py Docroots). Blocking: call it in a thread.

    Contract: `path_for` refuses names that would leave the www folder; `create` makes the missing folders (returned,
    deepest last) and puts the page in an empty docroot only; `remove(created)` takes exactly those back;
    `missing` names the docroots below the www folder that are gone."""

    def path_for(self, username: str, name: str) -> Path: ...

    def create(self, docroot: Path, page: bytes, owner_ids: tuple[int, int] | None = None) -> list[Path]: ...

    def remove(self, created: Iterable[Path]) -> None: ...

    def missing(self, docroots: Iterable[Path]) -> list[Path]: ...

    def move(self, old_docroot: Path, new_docroot: Path, owners: tuple[Ids, Ids] | None) -> MovedSite:
        """Move a site's folder to another user's www folder and hand its files to the new owner; `move_back`
        takes it back."""
        ...

    def move_back(self, moved: MovedSite) -> None: ...


class MailLookupTables(Protocol):
    """The rows Postfix and Dovecot look mail up in (system/maillookup.py MailLookup). Blocking and short.

    Contract: every put is idempotent (insert or replace) and every remove too; removing a domain removes its
    mailboxes and aliases; `set_password` of an unknown address raises LookupError; `rebuild(desired)` makes the
    tables hold exactly `desired` and returns what differed ("domain x", "mailbox a@x", "alias a@x -> b@y")."""

    def ensure(self) -> None: ...

    def put_domain(self, name: str) -> None: ...

    def remove_domain(self, name: str) -> None: ...

    def put_mailbox(self, row: MailboxRow) -> None: ...

    def remove_mailbox(self, address: str) -> None: ...

    def set_password(self, address: str, password: str) -> None: ...

    def put_alias(self, source: str, destination: str) -> None: ...

    def remove_alias(self, source: str, destination: str) -> None: ...

    def read(self) -> LookupState: ...

    def rebuild(self, desired: LookupState) -> LookupDrift: ...


class MailboxDaemon(Protocol):
    """The mailbox server's side of a mailbox change (system/dovecot.py DovecotDriver).

    Contract: `kick` ends a mailbox's open sessions, and does nothing (without failing) when the server is not
    running; `dispose_maildir` moves a mail folder to the archive under `label`, or removes it, and says which
    ("archived", "removed", or "absent" when there was none)."""

    async def kick(self, address: str) -> None: ...

    def dispose_maildir(self, home: Path, *, archive: bool, label: str) -> str: ...


class DkimSigner(Protocol):
    """The DKIM signer's keys (system/opendkim.py OpenDkimDriver). Blocking: call it in a thread.

    Contract: one key per domain (`put_key` replaces a domain's key, whatever its selector); `remove_key` says
    whether there was one; `sync_keys(wanted)` makes the installed keys exactly `wanted` and returns what differed
    (empty when nothing did); names are checked (ValueError) before they become a path."""

    def put_key(self, domain: str, selector: str, private_pem: bytes) -> None: ...

    def remove_key(self, domain: str) -> bool: ...

    def sync_keys(self, wanted: dict[tuple[str, str], bytes]) -> list[str]: ...

    def installed_keys(self) -> list[SigningKey]: ...


class AcmeProtocol(Protocol):
    """One conversation with an ACME CA (system/acme.py AcmeClient). Blocking: call it in a thread.

    Contract: `register` returns the account URL (the same one again for the same key); an order for a name the CA
    offers no HTTP-01 challenge for (a wildcard) raises AcmeProblem; after `answer` for every challenge of
    `http01_challenges`, `finalize` returns the PEM full chain (leaf first) of a certificate for the CSR's key
    and name; everything the CA refuses is an AcmeProblem with its problem document."""

    def register(self, email: str | None) -> str: ...

    def new_order(self, hostname: str, csr_pem: bytes) -> Any: ...

    def http01_challenges(self, order: Any) -> list[Http01Challenge]: ...

    def answer(self, challenge: Http01Challenge) -> None: ...

    def finalize(self, order: Any, timeout: float) -> str: ...

    def close(self) -> None: ...


AcmeClientFactory = Callable[[Settings, bytes], AcmeProtocol]
"""Makes a client for the settings' CA directory, signing with an account key (PEM)."""
