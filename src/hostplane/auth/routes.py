"""Native login routes (public) and session management (authenticated)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from hostplane.api.deps import AccountPrincipal, ClientDep, RuntimeDep, account_principal
from hostplane.auth.schemas import ChallengeResponse, LoginRequest, SessionOut, TokenResponse, TwoFactorLoginRequest
from hostplane.auth.service import AuthService, IssuedToken

public = APIRouter(prefix="/api/v1/auth", tags=["auth"])
sessions = APIRouter(prefix="/api/v1", tags=["auth"], dependencies=[Depends(account_principal)])


def _token(issued: IssuedToken) -> TokenResponse:
    return TokenResponse(token=issued.token, expires_in=issued.expires_in, user_id=issued.user.id)


@public.post("/login", response_model=TokenResponse | ChallengeResponse)
async def login(body: LoginRequest, runtime: RuntimeDep, client: ClientDep) -> TokenResponse | ChallengeResponse:
    """Password step. With two-factor on, answers with a challenge for `/login/two-factor`."""
    outcome = await AuthService(runtime).login(body.username, body.password, client)
    if isinstance(outcome, IssuedToken):
        return _token(outcome)
    return ChallengeResponse(challenge=outcome.challenge, expires_in=outcome.expires_in, user_id=outcome.user_id)


@public.post("/login/two-factor", response_model=TokenResponse)
async def login_two_factor(body: TwoFactorLoginRequest, runtime: RuntimeDep, client: ClientDep) -> TokenResponse:
    return _token(await AuthService(runtime).complete_two_factor(body.challenge, body.code, client))


@sessions.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: AccountPrincipal, runtime: RuntimeDep) -> Response:
    await AuthService(runtime).logout(principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@sessions.get("/account/sessions", response_model=list[SessionOut])
async def list_sessions(principal: AccountPrincipal, runtime: RuntimeDep) -> list[SessionOut]:
    rows = await AuthService(runtime).list_sessions(principal)
    return [
        SessionOut.model_validate(row).model_copy(update={"current": row.id == principal.session_id}) for row in rows
    ]


@sessions.delete("/account/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(session_id: str, principal: AccountPrincipal, runtime: RuntimeDep) -> Response:
    await AuthService(runtime).revoke_session(principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
