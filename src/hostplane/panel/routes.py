"""The panel's run-time settings in the native admin API (`/api/v1/admin/settings`): mounted only on the admin
port. The same PanelSettingsService serves the CLI (`hostplane settings`) and the WHM dialect's twofactorauth_*
policy and issuer functions, so every way in reads and changes the same values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from hostplane.api.deps import AdminPrincipal, admin_principal
from hostplane.panel.schemas import PanelSettingsChange, PanelSettingsOut
from hostplane.panel.service import PanelSettings, PanelSettingsService

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(admin_principal)])


async def _service(request: Request) -> PanelSettingsService:
    return PanelSettingsService(request.app.state.runtime)


ServiceDep = Annotated[PanelSettingsService, Depends(_service)]


def _out(settings: PanelSettings) -> PanelSettingsOut:
    return PanelSettingsOut(two_factor_policy=settings.two_factor_policy, two_factor_issuer=settings.two_factor_issuer)


@router.get("/settings", response_model=PanelSettingsOut)
async def read_settings(service: ServiceDep) -> PanelSettingsOut:
    """The panel's run-time settings as they apply now (an API key needs `admin:read`)."""
    return _out(await service.current())


@router.patch("/settings", response_model=PanelSettingsOut)
async def change_settings(
    body: PanelSettingsChange, principal: AdminPrincipal, service: ServiceDep
) -> PanelSettingsOut:
    """Change the settings given and keep the others; each change is in the activity log (an API key needs
    `admin:write`). Switching the two-factor policy on holds every session without two-factor, this one included,
    to setting it up."""
    changed = await service.update(
        principal.actor, two_factor_policy=body.two_factor_policy, two_factor_issuer=body.two_factor_issuer
    )
    return _out(changed)
