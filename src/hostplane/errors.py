"""Errors of the core with stable codes; each dialect maps them to its own wire shape in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input field, by its name in the request."""

    field: str
    message: str
    rule: str = "invalid"


class HostplaneError(Exception):
    """Base of every expected failure; `code` is stable, `status` is the HTTP status of the native API."""

    code = "error"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, fields: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or []


class InvalidInput(HostplaneError):
    code = "invalid_input"
    status = 422
    title = "Invalid input"

    @classmethod
    def on(cls, field_name: str, message: str, rule: str = "invalid") -> InvalidInput:
        return cls(message, fields=[FieldProblem(field_name, message, rule)])


class AuthenticationRequired(HostplaneError):
    code = "authentication_required"
    status = 401
    title = "Authentication required"


class InvalidCredentials(HostplaneError):
    """Wrong username, password or code: one message for all, so nothing tells which was wrong."""

    code = "invalid_credentials"
    status = 401
    title = "Invalid credentials"


class PermissionDenied(HostplaneError):
    code = "permission_denied"
    status = 403
    title = "Permission denied"


class TwoFactorSetupRequired(PermissionDenied):
    """The two-factor policy is on and the account has no second factor: only setting it up is allowed."""

    code = "two_factor_setup_required"
    title = "Two-factor setup required"


class NotFound(HostplaneError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(HostplaneError):
    code = "conflict"
    status = 409
    title = "Conflict"


class LimitReached(HostplaneError):
    code = "limit_reached"
    status = 409
    title = "Limit reached"


class TooManyAttempts(HostplaneError):
    code = "too_many_attempts"
    status = 429
    title = "Too many attempts"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class ServiceFailed(HostplaneError):
    """A host service (nginx, Postfix, Dovecot...) could not apply a change: nothing was changed, and the details
    went to the log for the admin. 502: the panel's upstream refused, not the client's request."""

    code = "service_failed"
    status = 502
    title = "Service failed"


class ServiceConfigRejected(ServiceFailed):
    """The rendered configuration failed the service's own check (`nginx -t`...): the previous one stays live."""

    code = "service_config_rejected"
    title = "Service configuration rejected"
