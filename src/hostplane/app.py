"""The ASGI apps: one per listener (user port, admin port), sharing one runtime."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, FastAPI

from hostplane.accounts import admin_routes
from hostplane.accounts import routes as account_routes
from hostplane.api import problems
from hostplane.api.deps import BEARER_SCHEME
from hostplane.api.edge import EdgeMiddleware
from hostplane.auth import routes as auth_routes
from hostplane.dialects.openpanel import routes as openpanel
from hostplane.dialects.pterodactyl import routes as pterodactyl
from hostplane.dialects.pterodactyl.errors import PterodactylErrors
from hostplane.dialects.whm import routes as whm
from hostplane.domains import routes as domain_routes
from hostplane.mail import routes as mail_routes
from hostplane.runtime import Runtime

Role = Literal["user", "admin"]

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/login/two-factor"),
        ("POST", "/api/login"),  # OpenPanel dialect
        ("GET", "/api/v1/health"),
        ("GET", "/openapi.json"),
        ("HEAD", "/openapi.json"),
    }
)
"""The only routes that answer without authentication; a test walks the app to hold every other to it."""

health = APIRouter(tags=["meta"])


@health.get("/api/v1/health")
async def health_check() -> dict[str, str]:
    return {"status": "ok"}


def _document_security(app: FastAPI) -> None:
    """OpenAPI: every operation but the public ones needs the bearer credential (the guard dependency has no
    FastAPI security class, to stay cheap on the hot path, so it is declared here)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = BEARER_SCHEME
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    if (method.upper(), path) not in PUBLIC_ROUTES:
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(runtime: Runtime, role: Role) -> FastAPI:
    """The app of one port: user routes on both, admin routes only on the admin port."""
    app = FastAPI(
        title=f"Hostplane ({role} port)",
        version="1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.runtime = runtime
    app.state.role = role
    problems.install(app)
    _document_security(app)
    # Routes are matched in order: the hot authenticated reads come first.
    for router in (account_routes.router, auth_routes.sessions, auth_routes.public, health):
        app.include_router(router)
    app.include_router(domain_routes.router)  # native user routes answer on both ports, like /api/v1/account
    app.include_router(mail_routes.router)
    if role == "user":
        app.include_router(openpanel.router)
        app.include_router(pterodactyl.router)
    if role == "admin":
        app.include_router(admin_routes.router)
        app.include_router(whm.router)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=runtime.settings.max_body_bytes,
        json_prefixes=("/api/v1/", "/api/client/"),
        hsts=not runtime.settings.plain_http,
    )
    if role == "user":
        app.add_middleware(PterodactylErrors)  # outside the edge, so that its refusals get the dialect's shape too
    return app
