"""Native mail routes under /api/v1/mail: domains, mailboxes, aliases (area "mail", owner-scoped)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from hostplane.api.deps import authenticated
from hostplane.api.types import Id
from hostplane.auth.principal import Principal
from hostplane.mail import schemas as s
from hostplane.mail.dkim import DkimRecord, DkimService, TxtRecord
from hostplane.mail.models import MailAlias, MailDomain
from hostplane.mail.service import MailboxView, MailService

mail_principal = authenticated("mail")
MailPrincipal = Annotated[Principal, Depends(mail_principal)]
router = APIRouter(prefix="/api/v1/mail", tags=["mail"], dependencies=[Depends(mail_principal)])
NO_CONTENT = status.HTTP_204_NO_CONTENT
MaildirChoice = Annotated[
    Literal["archive", "remove"],
    Query(description="Keep the mail in the archive folder (default) or remove it for good."),
]


async def _service(request: Request) -> MailService:
    return MailService(request.app.state.runtime)


ServiceDep = Annotated[MailService, Depends(_service)]


def domain_out(domain: MailDomain, count: int) -> s.MailDomainOut:
    return s.MailDomainOut(id=domain.id, name=domain.name, mailbox_count=count, created_at=domain.created_at)


def mailbox_out(view: MailboxView) -> s.MailboxOut:
    box = view.mailbox
    return s.MailboxOut(
        id=box.id,
        domain_id=box.domain_id,
        local_part=box.local_part,
        address=view.address,
        quota_mb=box.quota_mb,
        created_at=box.created_at,
    )


def alias_out(alias: MailAlias, domain: MailDomain) -> s.AliasOut:
    return s.AliasOut(
        id=alias.id,
        domain_id=domain.id,
        local_part=alias.local_part,
        address=f"{alias.local_part}@{domain.name}",
        destination=alias.destination,
        created_at=alias.created_at,
    )


@router.get("/domains", response_model=list[s.MailDomainOut])
async def list_domains(principal: MailPrincipal, service: ServiceDep) -> list[s.MailDomainOut]:
    return [domain_out(domain, count) for domain, count in await service.list_domains(principal)]


@router.post("/domains", response_model=s.MailDomainOut, status_code=status.HTTP_201_CREATED)
async def add_domain(body: s.MailDomainCreate, principal: MailPrincipal, service: ServiceDep) -> s.MailDomainOut:
    """Accept mail for a domain; it has no mailboxes yet."""
    return domain_out(await service.add_domain(principal, body.name), 0)


@router.get("/domains/{domain_id}", response_model=s.MailDomainOut)
async def get_domain(domain_id: Id, principal: MailPrincipal, service: ServiceDep) -> s.MailDomainOut:
    return domain_out(*await service.get_domain(principal, domain_id))


@router.delete("/domains/{domain_id}", response_model=s.MailboxDeleted)
async def delete_domain(
    domain_id: Id, principal: MailPrincipal, service: ServiceDep, maildir: MaildirChoice = "archive"
) -> s.MailboxDeleted:
    """Delete the domain with its mailboxes and aliases; its mail is archived or removed."""
    return s.MailboxDeleted(maildir=await service.delete_domain(principal, domain_id, archive=maildir == "archive"))


@router.get("/domains/{domain_id}/mailboxes", response_model=list[s.MailboxOut])
async def list_mailboxes(domain_id: Id, principal: MailPrincipal, service: ServiceDep) -> list[s.MailboxOut]:
    return [mailbox_out(view) for view in await service.list_mailboxes(principal, domain_id)]


@router.post("/domains/{domain_id}/mailboxes", response_model=s.MailboxOut, status_code=status.HTTP_201_CREATED)
async def add_mailbox(
    domain_id: Id, body: s.MailboxCreate, principal: MailPrincipal, service: ServiceDep
) -> s.MailboxOut:
    """Create a mailbox: IMAP login and delivery work as soon as this returns."""
    view = await service.add_mailbox(principal, domain_id, body.local_part, body.password, body.quota_mb)
    return mailbox_out(view)


@router.get("/mailboxes/{mailbox_id}", response_model=s.MailboxOut)
async def get_mailbox(mailbox_id: Id, principal: MailPrincipal, service: ServiceDep) -> s.MailboxOut:
    return mailbox_out(await service.get_mailbox(principal, mailbox_id))


@router.put("/mailboxes/{mailbox_id}/password", status_code=NO_CONTENT)
async def change_password(
    mailbox_id: Id, body: s.MailboxPassword, principal: MailPrincipal, service: ServiceDep
) -> Response:
    """Set a new password: the old one fails from now on."""
    await service.change_password(principal, mailbox_id, body.password)
    return Response(status_code=NO_CONTENT)


@router.delete("/mailboxes/{mailbox_id}", response_model=s.MailboxDeleted)
async def delete_mailbox(
    mailbox_id: Id, principal: MailPrincipal, service: ServiceDep, maildir: MaildirChoice = "archive"
) -> s.MailboxDeleted:
    """Delete a mailbox: delivery is refused with 550 from now on; its mail is archived or removed."""
    return s.MailboxDeleted(maildir=await service.delete_mailbox(principal, mailbox_id, archive=maildir == "archive"))


@router.get("/domains/{domain_id}/aliases", response_model=list[s.AliasOut])
async def list_aliases(domain_id: Id, principal: MailPrincipal, service: ServiceDep) -> list[s.AliasOut]:
    return [alias_out(alias, domain) for alias, domain in await service.list_aliases(principal, domain_id)]


@router.post("/domains/{domain_id}/aliases", response_model=s.AliasOut, status_code=status.HTTP_201_CREATED)
async def add_alias(domain_id: Id, body: s.AliasCreate, principal: MailPrincipal, service: ServiceDep) -> s.AliasOut:
    return alias_out(*await service.add_alias(principal, domain_id, body.local_part, body.destination))


@router.delete("/aliases/{alias_id}", status_code=NO_CONTENT)
async def delete_alias(alias_id: Id, principal: MailPrincipal, service: ServiceDep) -> Response:
    await service.delete_alias(principal, alias_id)
    return Response(status_code=NO_CONTENT)


# --- DKIM ---------------------------------------------------------------------------------------------------
def _txt(record: TxtRecord) -> s.DnsTxtOut:
    return s.DnsTxtOut(name=record.name, value=record.value, strings=record.strings, zone=record.zone)


def dkim_out(record: DkimRecord) -> s.DkimOut:
    return s.DkimOut(
        mail_domain_id=record.mail_domain_id,
        domain=record.domain,
        selector=record.selector,
        created_at=record.created_at,
        dkim=_txt(record.dkim),
        spf=_txt(record.spf_record),
        dmarc=_txt(record.dmarc_record),
    )


async def _dkim_service(request: Request) -> DkimService:
    return DkimService(request.app.state.runtime)


DkimDep = Annotated[DkimService, Depends(_dkim_service)]


@router.post(
    "/domains/{domain_id}/dkim",
    response_model=s.DkimOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": s.DkimOut, "description": "The domain already had a key: it is returned unchanged."}},
)
async def ensure_dkim(
    domain_id: Id, principal: MailPrincipal, service: DkimDep, response: Response, body: s.DkimCreate | None = None
) -> s.DkimOut:
    """Give the domain a DKIM key (RSA-2048) and start signing its mail (201), or return the key it has (200).
    The answer holds the TXT record to publish, with SPF and DMARC suggestions."""
    record = await service.ensure(principal, domain_id, body.selector if body else None)
    if not record.created:
        response.status_code = status.HTTP_200_OK
    return dkim_out(record)


@router.get("/domains/{domain_id}/dkim", response_model=s.DkimOut)
async def get_dkim(domain_id: Id, principal: MailPrincipal, service: DkimDep) -> s.DkimOut:
    """The domain's DKIM key as DNS records (404 when it has none yet)."""
    return dkim_out(await service.get(principal, domain_id))
