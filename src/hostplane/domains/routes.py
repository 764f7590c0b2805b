"""Native routes under /api/v1/domains: a user's domains, subdomains and their websites (on both ports, like
every native user route)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from hostplane.api.deps import authenticated
from hostplane.api.types import Id
from hostplane.auth.principal import Principal
from hostplane.domains import schemas as s
from hostplane.domains.models import Domain
from hostplane.domains.service import DomainService
from hostplane.validation import unicode_form

domains_principal = authenticated("domains")
DomainsPrincipal = Annotated[Principal, Depends(domains_principal)]


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {}}}


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _problem("No such domain among yours (another user's domain is not found either).")
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: _problem("The domain already exists."),
    422: _problem("The name is not a valid domain (problem+json with the field and rule)."),
    502: _problem(
        "The web server refused the change (`service_config_rejected`) or could not apply it (`service_failed`): "
        "nothing was changed and the previous configuration is still live."
    ),
}

router = APIRouter(prefix="/api/v1/domains", tags=["domains"], dependencies=[Depends(domains_principal)])


async def _service(request: Request) -> DomainService:
    return DomainService(request.app.state.runtime)


ServiceDep = Annotated[DomainService, Depends(_service)]


def domain_out(domain: Domain) -> s.DomainOut:
    return s.DomainOut(
        id=domain.id,
        name=domain.name,
        unicode_name=unicode_form(domain.name),
        kind="subdomain" if domain.parent_id is not None else "domain",
        parent_id=domain.parent_id,
        docroot=domain.docroot,
        created_at=domain.created_at,
    )


@router.get("", response_model=list[s.DomainOut])
async def list_domains(principal: DomainsPrincipal, service: ServiceDep) -> list[s.DomainOut]:
    """Your domains and subdomains, by name."""
    return [domain_out(domain) for domain in await service.list_owned(principal.user)]


@router.post("", response_model=s.DomainOut, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
async def add_domain(body: s.DomainCreate, principal: DomainsPrincipal, service: ServiceDep) -> s.DomainOut:
    """Add a domain: a docroot with a default page is created and the website answers as soon as this returns."""
    return domain_out(await service.add(principal.user, body.name))


@router.get("/{domain_id}", response_model=s.DomainOut, responses=NOT_FOUND)
async def get_domain(domain_id: Id, principal: DomainsPrincipal, service: ServiceDep) -> s.DomainOut:
    return domain_out(await service.get(principal.user, domain_id))


@router.post(
    "/{domain_id}/subdomains",
    response_model=s.DomainOut,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **WRITE_ERRORS},
)
async def add_subdomain(
    domain_id: Id, body: s.SubdomainCreate, principal: DomainsPrincipal, service: ServiceDep
) -> s.DomainOut:
    """Add `<name>.<domain>` as a website of its own (with its own docroot)."""
    return domain_out(await service.add_subdomain(principal.user, domain_id, body.name))


@router.delete(
    "/{domain_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, 502: WRITE_ERRORS[502]},
)
async def delete_domain(domain_id: Id, principal: DomainsPrincipal, service: ServiceDep) -> Response:
    """Delete a domain and its subdomains: the websites stop answering when this returns (files are kept)."""
    await service.delete(principal.user, domain_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
