"""Native export routes: a domain (website and/or mail) as a tar.gz streamed to the client."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from hostplane.api.deps import authenticated
from hostplane.api.types import Id
from hostplane.auth.principal import Principal
from hostplane.exports.service import ExportService
from hostplane.system.archive import ExportStream

exports_principal = authenticated("exports")
ExportsPrincipal = Annotated[Principal, Depends(exports_principal)]
router = APIRouter(prefix="/api/v1", tags=["exports"], dependencies=[Depends(exports_principal)])

ARCHIVE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A tar.gz: <domain>/manifest.json (domain, mailboxes with quotas, aliases; no secrets), "
        "<domain>/website/ (the docroot), <domain>/mail/<local part>/Maildir/; streamed as it is made.",
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
    },
    404: {
        "description": "No such domain among yours (another user's is not found either).",
        "content": {"application/problem+json": {}},
    },
}


async def _service(request: Request) -> ExportService:
    return ExportService(request.app.state.runtime)


ServiceDep = Annotated[ExportService, Depends(_service)]


def _response(stream: ExportStream) -> StreamingResponse:
    return StreamingResponse(
        stream.chunks(),
        media_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{stream.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/domains/{domain_id}/export", response_class=StreamingResponse, responses=ARCHIVE)
async def export_domain(domain_id: Id, principal: ExportsPrincipal, service: ServiceDep) -> StreamingResponse:
    """Export a domain: its website files, and the Maildirs of the mail domain of the same name if there is one."""
    name = await service.domain_name(principal.user, domain_id)
    return _response(await service.open_export(principal.user, name))


@router.get("/mail/domains/{mail_domain_id}/export", response_class=StreamingResponse, responses=ARCHIVE)
async def export_mail_domain(mail_domain_id: Id, principal: ExportsPrincipal, service: ServiceDep) -> StreamingResponse:
    """Export a mail domain: its mailboxes' Maildirs, and the website of the same name if there is one."""
    name = await service.mail_domain_name(principal.user, mail_domain_id)
    return _response(await service.open_export(principal.user, name))
