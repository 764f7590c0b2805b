"""The host as a whole: the desired state of every service, applied before the services start, and put back by
`hostplane reconcile`, which reports what differed.

This sits above the areas (domains, mail, profile) whose desired state it applies, and above the supervisor in
`system/`, which only starts, watches and stops daemons.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

from hostplane.domains.service import DomainService
from hostplane.domains.websites import Websites
from hostplane.mail.dkim import DkimService
from hostplane.mail.service import MailService
from hostplane.profile.authorized_keys import sync_all
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.dovecot import DovecotDriver
from hostplane.system.files import any_present, atomic_write
from hostplane.system.maillookup import MailLookup
from hostplane.system.mailpaths import MailPaths
from hostplane.system.nginx import NginxDriver
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.system.postfix import PostfixDriver
from hostplane.system.supervisor import (
    DovecotService,
    ManagedService,
    NginxService,
    PostfixService,
    SignerService,
    Supervisor,
)

log = logging.getLogger("hostplane.hosting")


def build_services(runtime: Runtime) -> list[ManagedService]:
    """The embedded layout's services in start order: the signer and Dovecot (LMTP) before Postfix, which hands
    mail to both; nginx last. nginx only when the panel runs its own (nginx_layout == "embedded")."""
    settings = runtime.settings
    paths = MailPaths.from_settings(settings)
    services: list[ManagedService] = [DovecotService(DovecotDriver(settings, paths))]
    services.append(SignerService(OpenDkimDriver.from_settings(settings)))
    services.append(PostfixService(PostfixDriver(settings, paths)))
    if settings.nginx_layout == "embedded":
        # The daemon itself (not only its configuration): always the real driver, over the same files and lock.
        services.append(NginxService(NginxDriver.from_settings(settings), Websites(runtime).sites))
    return services


def build_supervisor(runtime: Runtime) -> Supervisor:
    """The supervisor of `hostplane serve` (and the services `hostplane doctor` reads)."""
    return Supervisor(
        build_services(runtime),
        check_seconds=runtime.settings.services_check_seconds,
        prepare=lambda: apply_desired_state(runtime),
    )


@dataclass(frozen=True)
class HostCheck:
    """Whether the services `hostplane serve` starts can work with these settings on this host."""

    problem: str | None = None
    """One line saying what cannot work and how to fix it (`init` and `serve` print it and exit 2)."""
    notes: tuple[str, ...] = ()
    """What the admin should know, e.g. where the DKIM keys went instead of the state folder."""


def check_host(settings: Settings) -> HostCheck:
    """Before `init` and `serve`: settings that would only fail later (OpenDKIM refusing its keys, so every
    message would be deferred) are named now, with the fix. Nothing is created."""
    if not settings.embedded_services:
        return HostCheck()
    keys = OpenDkimDriver.from_settings(settings).key_folder
    note = keys.note()
    return HostCheck(problem=keys.problem(), notes=(note,) if note else ())


@dataclass
class Reconciled:
    """What `hostplane reconcile` found different from the desired state and put back."""

    drift: list[str] = field(default_factory=list)
    system_users: int = 0

    @property
    def clean(self) -> bool:
        return not self.drift


APPLIED_MARK = "desired-state-applied"
"""In the state folder once the whole desired state was applied (`serve` started its services, or `reconcile` ran):
from then on a part whose files are all gone was deleted, not never made."""


def mark_applied(runtime: Runtime) -> None:
    """Note that the whole desired state is applied (after `serve` started its services, and after reconcile)."""
    mark = runtime.settings.state_dir / APPLIED_MARK
    if not any_present([mark]):
        atomic_write(mark, f"{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}\n".encode(), mode=0o600)


@dataclass(frozen=True)
class Applied:
    """Which parts of the desired state this host had applied before: all of them once the whole state was applied
    (APPLIED_MARK), otherwise those whose live files exist. A part never applied gets its first apply, which is not
    drift: drift is what changed in, or went missing from, what was applied (a file edited or deleted by hand, a
    row changed behind the panel's back)."""

    nginx: bool
    postfix: bool
    dovecot: bool
    signer: bool
    """The signer's config file (written when it starts)."""
    signing_keys: bool
    """The signer's key files and tables (written by every key change)."""
    mail_lookup: bool

    @classmethod
    def now(cls, runtime: Runtime) -> Applied:
        settings = runtime.settings
        if any_present([settings.state_dir / APPLIED_MARK]):
            return cls(nginx=True, postfix=True, dovecot=True, signer=True, signing_keys=True, mail_lookup=True)
        paths = MailPaths.from_settings(settings)
        lookup = MailLookup(paths.lookup)
        signer = OpenDkimDriver.from_settings(settings)
        return cls(
            nginx=NginxService(NginxDriver.from_settings(settings), Websites(runtime).sites).applied(),
            postfix=PostfixService(PostfixDriver(settings, paths)).applied(),
            dovecot=DovecotService(DovecotDriver(settings, paths)).applied(),
            signer=SignerService(signer).applied(),
            signing_keys=signer.keys_applied(),
            mail_lookup=any_present([lookup.postfix_db, lookup.dovecot_db]),
        )


async def apply_desired_state(runtime: Runtime, before: Applied | None = None) -> Reconciled:
    """Before the services start: the DKIM keys and the mail lookup rows from the database, and every hosting
    user's Linux account and keys (each service renders its own config when it starts). Reports as drift only
    what differed from a state applied before (`before`: what was applied when the caller began)."""
    if before is None:
        before = await asyncio.to_thread(Applied.now, runtime)
    result = Reconciled()
    keys = await DkimService(runtime).reapply()
    if before.signing_keys:
        result.drift += keys
    mail = await MailService(runtime).reapply()
    if before.mail_lookup:
        result.drift += [f"mail lookup: missing {item}" for item in mail.missing]
        result.drift += [f"mail lookup: extra {item}" for item in mail.extra]
        result.drift += [f"mail lookup: changed {item}" for item in mail.changed]
    result.system_users = await sync_all(runtime)
    for line in result.drift:
        log.warning("desired state: %s (put back)", line)
    return result


async def reconcile(runtime: Runtime) -> Reconciled:
    """Re-apply the whole desired state idempotently and report what differed: the nginx files (a vhost deleted
    or edited by hand), the Postfix and Dovecot configs, the DKIM signer's files, the mail lookup rows and the
    system users. What was never applied (a fresh state folder) is applied without being reported."""
    settings = runtime.settings
    before = await asyncio.to_thread(Applied.now, runtime)
    result = Reconciled()
    nginx = await DomainService(runtime).reconcile()
    if before.nginx:
        result.drift += [f"nginx: {line}" for line in nginx.describe()]
    paths = MailPaths.from_settings(settings)
    for name, apply, applied in (
        ("postfix", PostfixDriver(settings, paths).apply, before.postfix),
        ("dovecot", DovecotDriver(settings, paths).apply, before.dovecot),
        ("opendkim", OpenDkimDriver.from_settings(settings).apply, before.signer),
    ):
        if await apply() and applied:
            result.drift.append(f"{name}: configuration put back")
    state = await apply_desired_state(runtime, before)
    result.drift += state.drift
    result.system_users = state.system_users
    await asyncio.to_thread(mark_applied, runtime)
    return result
