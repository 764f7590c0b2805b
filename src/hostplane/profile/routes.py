"""Native self-service routes under /api/v1/account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from hostplane.activity.schemas import ActivityPageOut, activity_page_out
from hostplane.api.deps import AccountPrincipal, account_principal
from hostplane.api.schema import model_response
from hostplane.profile import schemas as s
from hostplane.profile.service import AccountService

router = APIRouter(prefix="/api/v1/account", tags=["account"], dependencies=[Depends(account_principal)])
NO_CONTENT = status.HTTP_204_NO_CONTENT


async def _service(request: Request) -> AccountService:
    return AccountService(request.app.state.runtime)


ServiceDep = Annotated[AccountService, Depends(_service)]


@router.get("", response_model=s.UserOut)
async def get_account(principal: AccountPrincipal) -> Response:
    """The hottest read of the API: serialised straight from the model (FastAPI would validate it again)."""
    return model_response(s.UserOut.model_validate(principal.user))


@router.patch("", response_model=s.UserOut)
async def update_account(body: s.ProfileUpdate, principal: AccountPrincipal, service: ServiceDep) -> s.UserOut:
    user = await service.update_profile(
        principal, first_name=body.first_name, last_name=body.last_name, language=body.language
    )
    return s.UserOut.model_validate(user)


@router.put("/email", status_code=NO_CONTENT)
async def change_email(body: s.EmailChange, principal: AccountPrincipal, service: ServiceDep) -> Response:
    await service.change_email(principal, body.email, body.password)
    return Response(status_code=NO_CONTENT)


@router.put("/password", status_code=NO_CONTENT)
async def change_password(body: s.PasswordChange, principal: AccountPrincipal, service: ServiceDep) -> Response:
    """Change the password; every other session of the account ends."""
    await service.change_password(principal, body.current_password, body.password, body.password_confirmation)
    return Response(status_code=NO_CONTENT)


@router.get("/two-factor", response_model=s.TwoFactorStatus)
async def two_factor_status(principal: AccountPrincipal, service: ServiceDep) -> s.TwoFactorStatus:
    left = await service.count_recovery_codes(principal)
    return s.TwoFactorStatus(enabled=principal.user.twofa_enabled, recovery_codes_left=left)


@router.post("/two-factor/setup", response_model=s.TwoFactorSetupOut)
async def two_factor_setup(principal: AccountPrincipal, service: ServiceDep) -> s.TwoFactorSetupOut:
    setup = await service.start_two_factor(principal)
    return s.TwoFactorSetupOut(secret=setup.secret, otpauth_uri=setup.otpauth_uri, qr_code=setup.qr_png_data_url)


@router.post("/two-factor", response_model=s.RecoveryCodesOut)
async def two_factor_enable(
    body: s.TwoFactorEnable, principal: AccountPrincipal, service: ServiceDep
) -> s.RecoveryCodesOut:
    """Turn two-factor on with a code from the app and the password; the recovery codes are shown only here."""
    return s.RecoveryCodesOut(recovery_codes=await service.enable_two_factor(principal, body.code, body.password))


@router.post("/two-factor/disable", status_code=NO_CONTENT)
async def two_factor_disable(body: s.PasswordProof, principal: AccountPrincipal, service: ServiceDep) -> Response:
    await service.disable_two_factor(principal, body.password)
    return Response(status_code=NO_CONTENT)


@router.get("/api-keys", response_model=list[s.ApiKeyOut])
async def list_api_keys(principal: AccountPrincipal, service: ServiceDep) -> list[s.ApiKeyOut]:
    return [s.ApiKeyOut.model_validate(key) for key in await service.list_api_keys(principal)]


@router.post("/api-keys", response_model=s.ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_api_key(body: s.ApiKeyCreate, principal: AccountPrincipal, service: ServiceDep) -> s.ApiKeyCreated:
    created = await service.create_api_key(
        principal,
        description=body.description,
        scopes=body.scopes,
        allowed_ips=body.allowed_ips,
        expires_at=body.expires_at,
        password=body.password,
    )
    out = s.ApiKeyOut.model_validate(created.key)
    return s.ApiKeyCreated(**out.model_dump(), token=created.token)


@router.delete("/api-keys/{identifier}", status_code=NO_CONTENT)
async def delete_api_key(
    identifier: str,
    principal: AccountPrincipal,
    service: ServiceDep,
    body: Annotated[s.OptionalPasswordProof | None, Body()] = None,
) -> Response:
    await service.delete_api_key(principal, identifier, body.password if body else None)
    return Response(status_code=NO_CONTENT)


@router.get("/ssh-keys", response_model=list[s.SshKeyOut])
async def list_ssh_keys(principal: AccountPrincipal, service: ServiceDep) -> list[s.SshKeyOut]:
    return [s.SshKeyOut.model_validate(key) for key in await service.list_ssh_keys(principal)]


@router.post("/ssh-keys", response_model=s.SshKeyOut, status_code=status.HTTP_201_CREATED)
async def add_ssh_key(body: s.SshKeyCreate, principal: AccountPrincipal, service: ServiceDep) -> s.SshKeyOut:
    return s.SshKeyOut.model_validate(await service.add_ssh_key(principal, body.name, body.public_key, body.password))


@router.post("/ssh-keys/remove", status_code=NO_CONTENT)
async def remove_ssh_key(body: s.SshKeyRemove, principal: AccountPrincipal, service: ServiceDep) -> Response:
    await service.remove_ssh_key(principal, body.fingerprint, body.password)
    return Response(status_code=NO_CONTENT)


@router.get("/activity", response_model=ActivityPageOut)
async def list_activity(
    principal: AccountPrincipal,
    service: ServiceDep,
    event: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_.]+\*?$")] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ActivityPageOut:
    """Security events of this account, newest first; `event` filters exactly, or by prefix with a trailing '*'."""
    return activity_page_out(await service.activity(principal, event=event, page=page, per_page=per_page))
