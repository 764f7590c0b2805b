"""The ASGI apps: one per listener (user port, admin port), sharing one runtime."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, FastAPI

from hostplane.api import problems
from hostplane.api.deps import BEARER_SCHEME
from hostplane.api.edge import EdgeMiddleware
from hostplane.auth import routes as auth_routes
from hostplane.dialects import easymail
from hostplane.dialects.cpanel_sessions import routes as cpanel_sessions
from hostplane.dialects.cpanel_sessions.errors import CpanelErrors
from hostplane.dialects.easymail import routes as easymail_routes
from hostplane.dialects.easymail.errors import EasymailErrors
from hostplane.dialects.openpanel import routes as openpanel
from hostplane.dialects.openpanel.errors import OpenPanelErrors
from hostplane.dialects.pterodactyl import routes as pterodactyl
from hostplane.dialects.pterodactyl.errors import PterodactylErrors
from hostplane.dialects.whm import routes as whm
from hostplane.dialects.whm.errors import WhmErrors
from hostplane.domains import routes as domain_routes
from hostplane.exports import routes as export_routes
from hostplane.jobs import routes as job_routes
from hostplane.mail import routes as mail_routes
from hostplane.panel import routes as panel_routes
from hostplane.plans import routes as plan_routes
from hostplane.profile import routes as account_routes
from hostplane.runtime import Runtime
from hostplane.tls import acme_routes
from hostplane.tls import routes as tls_routes
from hostplane.users import routes as admin_routes

Role = Literal["user", "admin", "webmail"]

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/login/two-factor"),
        ("POST", "/api/login"),  # OpenPanel dialect
        ("POST", "/login/"),  # cPanel secure remote logins (every port)
        ("POST", f"{easymail.DEFAULT_PREFIX}/auth"),  # EasySuperSecureEmail dialect (admin port, default prefix)
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


def _webmail_app(app: FastAPI, runtime: Runtime) -> FastAPI:
    """Webmaild's port: the cPanel secure remote logins of mailboxes, nothing of the panel's API."""
    for router in (health, cpanel_sessions.wrong_port, cpanel_sessions.router):
        app.include_router(router)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=runtime.settings.max_body_bytes,
        json_prefixes=(),
        hsts=not runtime.settings.plain_http,
    )
    app.add_middleware(CpanelErrors)  # outside the edge, so that its refusals get the dialect's shape too
    return app


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
    if role == "webmail":
        return _webmail_app(app, runtime)
    # Routes are matched in order: the hot authenticated reads come first.
    for router in (account_routes.router, auth_routes.sessions, auth_routes.public, health):
        app.include_router(router)
    app.include_router(domain_routes.router)  # native user routes answer on both ports, like /api/v1/account
    app.include_router(mail_routes.router)
    app.include_router(tls_routes.router)  # /api/v1/domains/{id}/certificate, on both ports
    app.include_router(export_routes.router)  # /api/v1/domains/{id}/export, /api/v1/mail/domains/{id}/export
    app.include_router(acme_routes.router)  # /api/v1/domains/{id}/certificate/acme, on both ports
    app.include_router(job_routes.router)  # /api/v1/jobs, on both ports
    app.include_router(plan_routes.account_router)  # /api/v1/account/usage, on both ports
    if role == "user":
        app.include_router(openpanel.router)
        app.include_router(pterodactyl.router)
    if role == "admin":
        app.include_router(admin_routes.router)
        app.include_router(plan_routes.admin_router)
        app.include_router(panel_routes.router)  # /api/v1/admin/settings
        app.include_router(whm.router)
        app.include_router(easymail_routes.router, prefix=runtime.settings.easymail_prefix)
    if role == "user":
        app.include_router(cpanel_sessions.wrong_port)  # WHM's /json-api/ here: "Function not found"
    app.include_router(cpanel_sessions.router)  # /login/ and /cpsess##########/..., after WHM's own cpsess paths
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=runtime.settings.max_body_bytes,
        json_prefixes=("/api/v1/", "/api/client/"),
        hsts=not runtime.settings.plain_http,
    )
    if role == "user":
        app.add_middleware(PterodactylErrors)  # outside the edge, so that its refusals get the dialect's shape too
        app.add_middleware(OpenPanelErrors)  # likewise for each dialect, on its own paths
    if role == "admin":
        app.add_middleware(EasymailErrors, prefix=runtime.settings.easymail_prefix)
        app.add_middleware(WhmErrors)
    app.add_middleware(CpanelErrors)  # on every port, after WHM's (which keeps its /cpsess.../json-api/ paths)
    return app
