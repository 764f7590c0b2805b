"""Plans in the native API: administration on the admin port only, and each user's own limits and usage."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import Field, StrictBool, StrictInt

from hostplane.api.deps import AccountPrincipal, AdminPrincipal, account_principal, admin_principal
from hostplane.api.schema import RequestModel, ResponseModel
from hostplane.api.types import Id, StrictId
from hostplane.plans.limits import PlanUsage
from hostplane.plans.service import MAX_LIMIT, PlanService, PlanView

Limit = Annotated[StrictInt, Field(ge=0, le=MAX_LIMIT)]
FeatureName = Annotated[str, Field(min_length=1, max_length=64)]
NO_CONTENT = status.HTTP_204_NO_CONTENT


class PlanCreate(RequestModel):
    name: str = Field(min_length=1, max_length=64)
    max_domains: Limit = 0
    max_websites: Limit = 0
    max_mailboxes: Limit = 0
    max_mail_quota_mb: Limit = 0
    max_disk_mb: Limit = 0
    features: list[FeatureName] | None = Field(default=None, max_length=200)
    """Omitted: every feature."""
    is_default: StrictBool = False


class PlanUpdate(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    max_domains: Limit | None = None
    max_websites: Limit | None = None
    max_mailboxes: Limit | None = None
    max_mail_quota_mb: Limit | None = None
    max_disk_mb: Limit | None = None
    features: list[FeatureName] | None = Field(default=None, max_length=200)
    is_default: StrictBool | None = None


class PlanAssign(RequestModel):
    plan_id: StrictId | None
    """null: back to the default plan."""


class PlanOut(ResponseModel):
    id: int
    name: str
    max_domains: int
    max_websites: int
    max_mailboxes: int
    max_mail_quota_mb: int
    max_disk_mb: int
    features: list[str]
    is_default: bool
    users: int
    created_at: dt.datetime
    updated_at: dt.datetime


class Resources(ResponseModel):
    domains: int
    websites: int
    mailboxes: int
    mail_quota_mb: int
    disk_mb: int


class UsageOut(ResponseModel):
    user_id: int
    plan_id: int | None
    plan_name: str | None
    assigned: bool
    limits: Resources
    """0 = unlimited."""
    used: Resources
    features: list[str]


def plan_out(view: PlanView) -> PlanOut:
    plan = view.plan
    return PlanOut(
        id=plan.id,
        name=plan.name,
        max_domains=plan.max_domains,
        max_websites=plan.max_websites,
        max_mailboxes=plan.max_mailboxes,
        max_mail_quota_mb=plan.max_mail_quota_mb,
        max_disk_mb=plan.max_disk_mb,
        features=list(plan.features),
        is_default=plan.is_default,
        users=view.users,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


def usage_out(found: PlanUsage) -> UsageOut:
    return UsageOut(
        user_id=found.user_id,
        plan_id=found.plan_id,
        plan_name=found.plan_name,
        assigned=found.assigned,
        limits=Resources.model_validate(found.limits),
        used=Resources.model_validate(found.used),
        features=found.features,
    )


async def _service(request: Request) -> PlanService:
    return PlanService(request.app.state.runtime)


ServiceDep = Annotated[PlanService, Depends(_service)]


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {}}}


# --- admin port ---------------------------------------------------------------------------------------------------
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin", "plans"], dependencies=[Depends(admin_principal)])


@admin_router.get("/plans", response_model=list[PlanOut])
async def list_plans(service: ServiceDep) -> list[PlanOut]:
    return [plan_out(view) for view in await service.list_plans()]


@admin_router.post(
    "/plans",
    response_model=PlanOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: _problem("A plan with this name exists.")},
)
async def create_plan(body: PlanCreate, principal: AdminPrincipal, service: ServiceDep) -> PlanOut:
    """A plan: limits are 0 (unlimited) unless given, features are all of them unless listed."""
    values = body.model_dump()
    return plan_out(await service.create(principal.actor, **values))


@admin_router.get("/plans/{plan_id}", response_model=PlanOut, responses={404: _problem("No such plan.")})
async def get_plan(plan_id: Id, service: ServiceDep) -> PlanOut:
    return plan_out(await service.get(plan_id))


@admin_router.patch("/plans/{plan_id}", response_model=PlanOut, responses={404: _problem("No such plan.")})
async def update_plan(plan_id: Id, body: PlanUpdate, principal: AdminPrincipal, service: ServiceDep) -> PlanOut:
    """Change the fields given (null is not a value: leave a field out to keep it)."""
    changes = body.model_dump(exclude_unset=True)
    return plan_out(await service.update(principal.actor, plan_id, changes))


@admin_router.delete(
    "/plans/{plan_id}",
    status_code=NO_CONTENT,
    responses={404: _problem("No such plan."), 409: _problem("The plan is in use or the default.")},
)
async def delete_plan(plan_id: Id, principal: AdminPrincipal, service: ServiceDep) -> Response:
    await service.delete(principal.actor, plan_id)
    return Response(status_code=NO_CONTENT)


@admin_router.put("/users/{user_id}/plan", response_model=UsageOut, responses={404: _problem("No such user or plan.")})
async def assign_plan(user_id: Id, body: PlanAssign, principal: AdminPrincipal, service: ServiceDep) -> UsageOut:
    """Put a user on a plan (`plan_id: null`: back to the default plan); returns their limits and usage."""
    return usage_out(await service.assign(principal.actor, user_id, body.plan_id))


@admin_router.get("/users/{user_id}/usage", response_model=UsageOut, responses={404: _problem("No such user.")})
async def user_usage(user_id: Id, service: ServiceDep) -> UsageOut:
    return usage_out(await service.usage_of(user_id))


# --- both ports: the user's own -----------------------------------------------------------------------------------
account_router = APIRouter(prefix="/api/v1/account", tags=["account"], dependencies=[Depends(account_principal)])


@account_router.get("/usage", response_model=UsageOut)
async def my_usage(principal: AccountPrincipal, service: ServiceDep) -> UsageOut:
    """Your plan's limits (0 = unlimited) and what you use now (disk measured, cached briefly)."""
    return usage_out(await service.usage_of(principal.user.id))
