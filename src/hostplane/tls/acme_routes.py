"""Native route that orders a certificate from the ACME CA for one of the caller's websites, as a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from hostplane.api.deps import authenticated
from hostplane.api.types import Id
from hostplane.auth.principal import Principal
from hostplane.jobs.routes import JobOut, job_out
from hostplane.tls.acme import AcmeService
from hostplane.tls.service import CertificateService

tls_principal = authenticated("tls")
TlsPrincipal = Annotated[Principal, Depends(tls_principal)]
router = APIRouter(prefix="/api/v1/domains", tags=["certificates"], dependencies=[Depends(tls_principal)])


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    404: _problem("No such domain among yours (another user's domain is not found either)."),
    409: _problem("An order for this domain's certificate is already running."),
    429: _problem("The certificate authority rate-limits this panel (`acme_rate_limited`); see Retry-After."),
}


@router.post(
    "/{domain_id}/certificate/acme",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=ERRORS,
)
async def order_certificate(domain_id: Id, request: Request, response: Response, principal: TlsPrincipal) -> JobOut:
    """Order a certificate for this website from the ACME CA (HTTP-01 through the panel's web server), installed
    on the site when issued. Answers at once with the job: poll GET /api/v1/jobs/{id}; a refusal of the CA is
    the job's `error`, with the CA's own problem document in `error.ca_problem`."""
    runtime = request.app.state.runtime
    hostname = await CertificateService(runtime).hostname_of(principal.user, domain_id)
    job = await AcmeService(runtime).order(principal.user, hostname)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return job_out(job)
