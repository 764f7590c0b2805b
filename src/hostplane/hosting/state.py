"""The host as a whole: the desired state of every service, applied before the services start, and put back by
`hostplane reconcile`, which reports what differed.

This sits above the areas (domains, mail, profile) whose desired state it applies, and above the supervisor in
`system/`, which only starts, watches and stops daemons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hostplane.domains.service import DomainService
from hostplane.domains.websites import Websites
from hostplane.mail.dkim import DkimService
from hostplane.mail.service import MailService
from hostplane.profile.authorized_keys import sync_all
from hostplane.runtime import Runtime
from hostplane.system.dovecot import DovecotDriver
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


@dataclass
class Reconciled:
    """What `hostplane reconcile` found different from the desired state and put back."""

    drift: list[str] = field(default_factory=list)
    system_users: int = 0

    @property
    def clean(self) -> bool:
        return not self.drift


async def apply_desired_state(runtime: Runtime) -> Reconciled:
    """Before the services start: the mail lookup rows from the database and every hosting user's Linux account
    and keys (each service renders its own config when it starts)."""
    result = Reconciled()
    result.drift += await DkimService(runtime).reapply()
    mail = await MailService(runtime).reapply()
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
    system users."""
    settings = runtime.settings
    result = Reconciled()
    nginx = await DomainService(runtime).reconcile()
    result.drift += [f"nginx: {line}" for line in nginx.describe()]
    paths = MailPaths.from_settings(settings)
    for name, apply in (
        ("postfix", PostfixDriver(settings, paths).apply),
        ("dovecot", DovecotDriver(settings, paths).apply),
    ):
        if await apply():
            result.drift.append(f"{name}: configuration put back")
    if await OpenDkimDriver.from_settings(settings).apply():
        result.drift.append("opendkim: configuration put back")
    state = await apply_desired_state(runtime)
    result.drift += state.drift
    result.system_users = state.system_users
    return result
