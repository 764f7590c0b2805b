"""Native routes of a website's certificate: /api/v1/domains/{id}/certificate (upload, read, remove)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from hostplane.api.deps import authenticated
from hostplane.api.types import Id
from hostplane.auth.principal import Principal
from hostplane.tls import schemas as s
from hostplane.tls.service import CertificateInfo, CertificateService

tls_principal = authenticated("tls")
TlsPrincipal = Annotated[Principal, Depends(tls_principal)]
router = APIRouter(prefix="/api/v1/domains", tags=["certificates"], dependencies=[Depends(tls_principal)])


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {}}}


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _problem("No such domain among yours, or it has no certificate (another user's domain is not found either).")
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    422: _problem(
        "The certificate, key or chain was refused (problem+json naming the field and the rule: pem, crlf, max, "
        "count, encrypted, key_type, key_size, mismatch, order, hostname, expired, not_yet); nothing was changed."
    ),
    502: _problem(
        "The web server refused the configuration (`service_config_rejected`) or could not apply it "
        "(`service_failed`): nothing was changed and the previous certificate is still live."
    ),
}


async def _service(request: Request) -> CertificateService:
    return CertificateService(request.app.state.runtime)


ServiceDep = Annotated[CertificateService, Depends(_service)]


def certificate_out(info: CertificateInfo) -> s.CertificateOut:
    return s.CertificateOut(
        domain_id=info.domain_id,
        hostname=info.hostname,
        issuer=info.issuer,
        not_before=info.not_before,
        not_after=info.not_after,
        days_left=info.days_left,
        source="acme" if info.source == "acme" else "upload",
        sans=list(info.sans),
        fingerprint_sha256=info.fingerprint_sha256,
        created_at=info.created_at,
        updated_at=info.updated_at,
    )


@router.put("/{domain_id}/certificate", response_model=s.CertificateOut, responses={**NOT_FOUND, **WRITE_ERRORS})
async def upload_certificate(
    domain_id: Id, body: s.CertificateUpload, principal: TlsPrincipal, service: ServiceDep
) -> s.CertificateOut:
    """Install an uploaded certificate on the website (replacing any previous one): validated, then served with
    TLS (SNI) when this returns."""
    hostname = await service.hostname_of(principal.user, domain_id)
    info = await service.install(
        principal.user,
        hostname,
        certificate_pem=body.certificate,
        private_key_pem=body.private_key,
        chain_pem=body.chain,
        source="upload",
    )
    return certificate_out(info)


@router.get("/{domain_id}/certificate", response_model=s.CertificateOut, responses=NOT_FOUND)
async def get_certificate(domain_id: Id, principal: TlsPrincipal, service: ServiceDep) -> s.CertificateOut:
    """The website's certificate: names, validity and days left (never the key)."""
    hostname = await service.hostname_of(principal.user, domain_id)
    return certificate_out(await service.info(principal.user, hostname))


@router.delete(
    "/{domain_id}/certificate",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, 502: WRITE_ERRORS[502]},
)
async def delete_certificate(domain_id: Id, principal: TlsPrincipal, service: ServiceDep) -> Response:
    """Remove the certificate: the website answers on plain HTTP only when this returns."""
    hostname = await service.hostname_of(principal.user, domain_id)
    await service.remove(principal.user, hostname)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
