"""Native admin routes under /api/v1/admin: mounted only on the admin port."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import Field

from hostplane.activity.schemas import ActivityPageOut, activity_page_out
from hostplane.api.deps import AdminPrincipal, admin_principal
from hostplane.api.schema import RequestModel, ResponseModel
from hostplane.api.types import Id, StrictId
from hostplane.hosting.moves import DomainMoves, Move
from hostplane.profile.schemas import UserOut
from hostplane.users.service import UserAdminService

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(admin_principal)])
NO_CONTENT = status.HTTP_204_NO_CONTENT


class UserCreate(RequestModel):
    username: str = Field(max_length=32)
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    role: Literal["admin", "user"] = "user"
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    language: str = Field(default="en", max_length=16)


class PasswordSet(RequestModel):
    password: str = Field(max_length=1024)


class DomainMoveBody(RequestModel):
    user_id: StrictId = Field(description="The account that receives the domain.")


class DomainMoveOut(ResponseModel):
    name: str
    from_user_id: int
    to_user_id: int
    websites: list[str] = Field(description="The websites that moved: the name's, its subdomains', any below it.")
    mail_domains: list[str] = Field(description="The mail domains that moved: the name's and any below it.")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {}}}


MOVE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _problem("No such domain, or no such user."),
    409: _problem(
        "The account has it already, the name is below another name its account holds (move that one), a "
        "folder is in the way, or the target's plan limits would be passed (`limit_reached`)."
    ),
    502: _problem("The web server refused the change: nothing moved."),
}


async def _service(request: Request) -> UserAdminService:
    return UserAdminService(request.app.state.runtime)


ServiceDep = Annotated[UserAdminService, Depends(_service)]


@router.get("/users", response_model=list[UserOut])
async def list_users(service: ServiceDep) -> list[UserOut]:
    return [UserOut.model_validate(user) for user in await service.list_users()]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, principal: AdminPrincipal, service: ServiceDep) -> UserOut:
    user = await service.create_user(principal.actor, **body.model_dump())
    return UserOut.model_validate(user)


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(user_id: Id, service: ServiceDep) -> UserOut:
    return UserOut.model_validate(await service.get_user(user_id))


@router.post("/users/{user_id}/disable", response_model=UserOut)
async def disable_user(user_id: Id, principal: AdminPrincipal, service: ServiceDep) -> UserOut:
    """Disable the account; all of its sessions end at once and its API keys stop working."""
    return UserOut.model_validate(await service.set_disabled(principal.actor, user_id, True))


@router.post("/users/{user_id}/enable", response_model=UserOut)
async def enable_user(user_id: Id, principal: AdminPrincipal, service: ServiceDep) -> UserOut:
    return UserOut.model_validate(await service.set_disabled(principal.actor, user_id, False))


@router.put("/users/{user_id}/password", status_code=NO_CONTENT)
async def set_password(user_id: Id, body: PasswordSet, principal: AdminPrincipal, service: ServiceDep) -> Response:
    await service.set_password(principal.actor, user_id, body.password)
    return Response(status_code=NO_CONTENT)


@router.post("/users/{user_id}/reset-two-factor", status_code=NO_CONTENT)
async def reset_two_factor(user_id: Id, principal: AdminPrincipal, service: ServiceDep) -> Response:
    await service.reset_two_factor(principal.actor, user_id)
    return Response(status_code=NO_CONTENT)


async def _moves(request: Request) -> DomainMoves:
    return DomainMoves(request.app.state.runtime)


MovesDep = Annotated[DomainMoves, Depends(_moves)]


def _move_out(move: Move) -> DomainMoveOut:
    return DomainMoveOut.model_validate(move)


@router.post("/domains/{domain_id}/move", response_model=DomainMoveOut, responses=MOVE_ERRORS)
async def move_domain(domain_id: Id, body: DomainMoveBody, principal: AdminPrincipal, moves: MovesDep) -> DomainMoveOut:
    """Give a website's name to another account, with what its account holds below it (subdomains, mail
    domains of those names) and the files of the websites; the sites are served from the new owner's folders when
    this returns."""
    return _move_out(await moves.move_website(principal.actor, domain_id, body.user_id))


@router.post("/mail/domains/{domain_id}/move", response_model=DomainMoveOut, responses=MOVE_ERRORS)
async def move_mail_domain(
    domain_id: Id, body: DomainMoveBody, principal: AdminPrincipal, moves: MovesDep
) -> DomainMoveOut:
    """Give a mail domain's name to another account, like `POST /domains/{id}/move` (for a name that is only a mail
    domain)."""
    return _move_out(await moves.move_mail_domain(principal.actor, domain_id, body.user_id))


@router.get("/activity", response_model=ActivityPageOut)
async def all_activity(
    service: ServiceDep,
    user_id: Annotated[Id | None, Query()] = None,
    event: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_.]+\*?$")] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ActivityPageOut:
    return activity_page_out(await service.activity(user_id=user_id, event=event, page=page, per_page=per_page))
