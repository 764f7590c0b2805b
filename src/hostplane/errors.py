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
