"""HTTP for the EasySuperSecureEmail dialect; paths are relative to `easymail_prefix` (app.py mounts it).

Each handler authenticates the Auth-token, reads the parameters (params.py), calls the core service as the
authenticated user and shapes the answer as the reference does. Failures are raised as core errors and leave
as `{result: false, msg}` (errors.py). Success shapes the reference leaves open are `{result: true, ...}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from hostplane import validation
from hostplane.api.deps import client_of
from hostplane.auth.principal import Principal
from hostplane.auth.service import BAD_LOGIN, AuthService, TwoFactorChallenge
from hostplane.dialects.easymail.errors import failure
from hostplane.dialects.easymail.params import NO_SUCH_USER, domain_id_of, read_params
from hostplane.domains.service import DomainService
from hostplane.errors import (
    AuthenticationRequired,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)
from hostplane.exports.service import ExportService
from hostplane.mail.dkim import DkimService
from hostplane.mail.models import MailDomain
from hostplane.mail.service import MailboxView, MailService, local_part
from hostplane.runtime import Runtime
from hostplane.tls import validate
from hostplane.tls.acme import AcmeService
from hostplane.tls.service import CertificateService

router = APIRouter(include_in_schema=False)
WRONG_LOGIN = "Username/password is not correct"
"""The reference's own message for a failed /auth (the core's answer is the same for every cause)."""
OTP_NEEDED = "Two-factor authentication is on for this account: send the current code as the otp parameter."


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def principal_of(request: Request, area: str, *, write: bool) -> Principal:
    """The user behind the Auth-token header (a session token from /auth, or an API key), as the native API
    resolves a bearer credential; an API key needs a scope for the area."""
    token = request.headers.get("auth-token", "").strip()
    if not token:
        raise AuthenticationRequired("Send the token from /auth in the Auth-token header.")
    principal = await AuthService(runtime_of(request)).authenticate(token, client_of(request))
    if not principal.allows(area, write=write):
        raise PermissionDenied(f"This API key has no scope for {area} ({'write' if write else 'read'}).")
    return principal


def ok(**fields: Any) -> JSONResponse:
    return JSONResponse({"result": True, **fields})


def domain_json(domain: MailDomain, users_count: int) -> dict[str, Any]:
    return {"id": domain.id, "name": domain.name, "users_count": users_count}


def user_json(view: MailboxView) -> dict[str, Any]:
    return {"id": view.mailbox.id, "domain_id": view.mailbox.domain_id, "email": view.address}


def local_of(value: str, domain_name: str, field: str) -> str:
    """The local part of an address given for a mailbox of `domain_name` (a bare local part is taken as is)."""
    local, at, domain = value.rpartition("@")
    if not at:
        return value
    if validation.domain_name(domain, field) != domain_name:
        raise InvalidInput.on(field, f"The address must be at the domain {domain_name}.", "in")
    return local


async def domain_named(service: MailService, principal: Principal, name: str) -> tuple[MailDomain, int]:
    wanted = validation.domain_name(name, "domain")
    for domain, count in await service.list_domains(principal):
        if domain.name == wanted:
            return domain, count
    raise NotFound("No such mail domain.")


# --- authorization -----------------------------------------------------------------------------------------


@router.post("/auth")
async def auth(request: Request) -> JSONResponse:
    params = await read_params(request)
    username, password, otp = params.optional("username"), params.optional("password"), params.optional("otp")
    if not username or not password:
        return failure(400, "The username and password parameters are required.")
    service, client = AuthService(runtime_of(request)), client_of(request)
    try:
        outcome = await service.login_with_code(username, password, client, otp)
        if isinstance(outcome, TwoFactorChallenge):
            return failure(401, OTP_NEEDED)
    except InvalidCredentials as exc:
        return failure(401, WRONG_LOGIN if exc.detail == BAD_LOGIN else exc.detail)
    except TooManyAttempts as exc:
        return failure(429, exc.detail, {"Retry-After": str(exc.retry_after)})
    return ok(token=outcome.token)


# --- mail domains and users ----------------------------------------------------------------------------------


@router.get("/domains")
async def list_domains(request: Request) -> JSONResponse:
    principal = await principal_of(request, "mail", write=False)
    await read_params(request)
    listed = await MailService(runtime_of(request)).list_domains(principal)
    return JSONResponse({"domains": [domain_json(domain, count) for domain, count in listed]})


@router.get("/users/{domain_id}")
async def list_users(request: Request, domain_id: str) -> JSONResponse:
    principal = await principal_of(request, "mail", write=False)
    await read_params(request)
    boxes = await MailService(runtime_of(request)).list_mailboxes(principal, domain_id_of(domain_id))
    return JSONResponse({"users": [user_json(view) for view in boxes]})


@router.post("/domains")
async def add_domain(request: Request) -> JSONResponse:
    """The domain and its first mailbox, or neither."""
    principal = await principal_of(request, "mail", write=True)
    params = await read_params(request)
    name = validation.domain_name(params.required("domain"), "domain")
    local = local_part(local_of(params.required("username"), name, "username"), "username")
    password = params.required("password")
    view = await MailService(runtime_of(request)).add_domain_with_mailbox(principal, name, local, password)
    return ok(domain=domain_json(view.domain, 1), user=user_json(view))


@router.post("/user/{domain_id}")
async def add_user(request: Request, domain_id: str) -> JSONResponse:
    principal = await principal_of(request, "mail", write=True)
    params = await read_params(request)
    service = MailService(runtime_of(request))
    domain, _count = await service.get_domain(principal, domain_id_of(domain_id))
    local = local_of(params.required("email"), domain.name, "email")
    view = await service.add_mailbox(principal, domain.id, local, params.required("password"))
    return ok(user=user_json(view))


@router.post("/user-change-password")
async def change_password(request: Request) -> JSONResponse:
    principal = await principal_of(request, "mail", write=True)
    params = await read_params(request)
    mailbox_id, password = params.identifier("id", not_found=NO_SUCH_USER), params.required("password")
    domain_id = domain_id_of(value) if (value := params.optional("domain_id")) else None
    service = MailService(runtime_of(request))
    view = await service.get_mailbox(principal, mailbox_id)
    if domain_id is not None and view.mailbox.domain_id != domain_id:
        raise NotFound("No such user in this domain.")
    await service.change_password(principal, mailbox_id, password)
    return ok()


@router.delete("/domain")
async def delete_domain(request: Request) -> JSONResponse:
    """The domain with its mailboxes; their mail goes to the archive folder."""
    principal = await principal_of(request, "mail", write=True)
    params = await read_params(request)
    service = MailService(runtime_of(request))
    domain, _count = await domain_named(service, principal, params.required("domain"))
    await service.delete_domain(principal, domain.id)
    return ok()


@router.delete("/users")
async def delete_user(request: Request) -> JSONResponse:
    """The mailbox of that address; its mail goes to the archive folder."""
    principal = await principal_of(request, "mail", write=True)
    params = await read_params(request)
    address = validation.email(params.required("email"))
    local, _, domain_name = address.rpartition("@")
    service = MailService(runtime_of(request))
    domain, _count = await domain_named(service, principal, domain_name)
    for view in await service.list_mailboxes(principal, domain.id):
        if view.mailbox.local_part == local:
            await service.delete_mailbox(principal, view.mailbox.id)
            return ok()
    raise NotFound("No such user.")


# --- DKIM ------------------------------------------------------------------------------------------------------


@router.post("/dkim/add-new-domain")
async def add_dkim(request: Request) -> JSONResponse:
    """The mail domain's DKIM key (made if it has none) and the DNS records to publish."""
    principal = await principal_of(request, "mail", write=True)
    params = await read_params(request)
    runtime = runtime_of(request)
    domain, _count = await domain_named(MailService(runtime), principal, params.required("domain"))
    record = await DkimService(runtime).ensure(principal, domain.id)
    return ok(
        domain=record.domain,
        selector=record.selector,
        created=record.created,
        dkim={"name": record.txt_name, "type": "TXT", "value": record.txt_value},
        spf={"name": record.domain, "type": "TXT", "value": record.spf},
        dmarc={"name": record.dmarc_name, "type": "TXT", "value": record.dmarc},
    )


# --- certificates ------------------------------------------------------------------------------------------------


def _covered_names(certificate_pem: str) -> list[str]:
    """The DNS names of the leaf (the first certificate of the field); the core validates the whole field."""
    return validate.leaf_dns_names("ssl_certificate", certificate_pem)


async def upload_hostname(runtime: Runtime, principal: Principal, certificate_pem: str) -> str:
    """The reference's upload has no hostname: the one domain of the user the certificate covers."""
    names = _covered_names(certificate_pem)
    owned = await DomainService(runtime).list_owned(principal.user)
    covered = sorted({domain.name for domain in owned if any(validate.covers(name, domain.name) for name in names)})
    if len(covered) != 1:
        which = "none" if not covered else "several"
        raise InvalidInput.on(
            "hostname",
            f"The certificate covers {which} of your domains: send the hostname parameter to choose one.",
            "required",
        )
    return covered[0]


@router.post("/ssl/letsencrypt/install")
async def ssl_letsencrypt(request: Request) -> JSONResponse:
    """Start the Let's Encrypt order for one of the user's websites: a job (GET /api/v1/jobs/{job_id}) that
    proves the name over HTTP-01 and installs the certificate."""
    principal = await principal_of(request, "tls", write=True)
    params = await read_params(request)
    hostname = validation.domain_name(params.required("hostname"), "hostname")
    job = await AcmeService(runtime_of(request)).order(principal.user, hostname)
    return ok(hostname=hostname, job_id=job.id, status=job.status)


@router.post("/ssl/get-left-days")
async def ssl_left_days(request: Request) -> JSONResponse:
    principal = await principal_of(request, "tls", write=False)
    params = await read_params(request)
    hostname = validation.domain_name(params.required("hostname"), "hostname")
    days = await CertificateService(runtime_of(request)).days_left(principal.user, hostname)
    return ok(hostname=hostname, left_days=days)


@router.post("/ssl/upload")
async def ssl_upload(request: Request) -> JSONResponse:
    """Install an uploaded certificate (the leaf, optionally followed by its chain) and its key on the website."""
    principal = await principal_of(request, "tls", write=True)
    params = await read_params(request)
    certificate, key = params.required("ssl_certificate"), params.required("ssl_certificate_key")
    runtime = runtime_of(request)
    given = params.optional("hostname")
    hostname = (
        validation.domain_name(given, "hostname") if given else await upload_hostname(runtime, principal, certificate)
    )
    info = await CertificateService(runtime).install(
        principal.user,
        hostname,
        certificate_pem=certificate,
        private_key_pem=key,
        chain_pem=params.optional("ssl_certificate_chain") or "",
        source="upload",
    )
    return ok(
        hostname=info.hostname,
        issuer=info.issuer,
        not_before=info.not_before.isoformat(),
        not_after=info.not_after.isoformat(),
        left_days=info.days_left,
    )


# --- export ------------------------------------------------------------------------------------------------------


@router.get("/export/domain")
async def export_domain(request: Request) -> StreamingResponse:
    """A tar.gz of the domain, streamed: the Maildirs of its mailboxes (and its website files if it is one of the
    user's websites too), with a manifest; no secrets."""
    principal = await principal_of(request, "exports", write=False)
    params = await read_params(request)
    hostname = validation.domain_name(params.required("domain"), "domain")
    stream = await ExportService(runtime_of(request)).open_export(principal.user, hostname)
    return StreamingResponse(
        stream.chunks(),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{stream.filename}"', "Cache-Control": "no-store"},
    )
