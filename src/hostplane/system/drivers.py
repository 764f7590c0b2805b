"""The one place the real drivers are composed: `build_drivers(settings)` (called by `build_runtime`). Services take
their drivers from `runtime.drivers`; unit tests put the fakes of system/fake.py there instead."""

from __future__ import annotations

from dataclasses import dataclass

from hostplane.settings import Settings
from hostplane.system.acme import AcmeClient
from hostplane.system.docroots import Docroots
from hostplane.system.dovecot import DovecotDriver
from hostplane.system.interfaces import (
    AcmeClientFactory,
    AcmeProtocol,
    DkimSigner,
    DocrootStore,
    MailboxDaemon,
    MailLookupTables,
    WebsitesDriver,
)
from hostplane.system.maillookup import MailLookup
from hostplane.system.mailpaths import MailPaths
from hostplane.system.nginx import NginxDriver
from hostplane.system.opendkim import OpenDkimDriver
from hostplane.system.ssh import SystemUsers, build_system_users


@dataclass
class Drivers:
    """Every driver a service calls, by its interface (system/interfaces.py)."""

    websites: WebsitesDriver
    """nginx: the vhosts and the certificates' files."""
    docroots: DocrootStore
    """The websites' folders."""
    mail_lookup: MailLookupTables
    """The rows Postfix and Dovecot look domains, mailboxes and aliases up in."""
    mailboxes: MailboxDaemon
    """Dovecot's side of a mailbox change: ending sessions, archiving Maildirs."""
    dkim: DkimSigner
    """OpenDKIM's keys."""
    system_users: SystemUsers
    """Linux accounts of hosting users and their authorized_keys (a disabled driver when the settings say so)."""
    acme: AcmeClientFactory
    """Makes an ACME client for the settings' CA."""


def acme_client(settings: Settings, account_key_pem: bytes) -> AcmeProtocol:
    return AcmeClient(
        settings.acme_directory_url,
        account_key_pem,
        ca_bundle=settings.acme_ca_bundle,
        timeout=settings.acme_network_timeout,
    )


def build_drivers(settings: Settings) -> Drivers:
    """The real drivers for these settings (cheap: nothing is touched until a driver is used)."""
    paths = MailPaths.from_settings(settings)
    return Drivers(
        websites=NginxDriver.from_settings(settings),
        docroots=Docroots(settings.resolved_www_dir),
        mail_lookup=MailLookup(paths.lookup),
        mailboxes=DovecotDriver(settings, paths),
        dkim=OpenDkimDriver.from_settings(settings),
        system_users=build_system_users(enabled=settings.manage_system_users, home_root=settings.system_users_home),
        acme=acme_client,
    )
