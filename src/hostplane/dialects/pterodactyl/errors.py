"""Pterodactyl's error envelope for everything under /api/client, in one place.

The app answers every failure with an RFC 9457 problem document carrying the core's stable error `code` (core
errors, request validation, authentication, unknown routes and methods, and the edge's own refusals: body too
large, not JSON, bad header). Under /api/client this ASGI layer re-renders those documents the way Pterodactyl's
Laravel exception handler does:

    {"errors": [{"code": "<exception class>", "status": "<status as a string>", "detail": "..."}]}

and validation failures as one entry per field, `code` "ValidationException", status "422", with
`meta: {source_field, rule}`. Every other path passes through untouched, so the native API keeps its shape.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp

from hostplane.dialects.rerender import ProblemRerendering
from hostplane.errors import HostplaneError

PREFIX = "/api/client"
INTERNAL_DETAIL = "An unexpected error was encountered while processing this request, please try again."


class InvalidSortQuery(HostplaneError):
    code = "invalid_sort_query"
    status = 400
    title = "Invalid sort"


class InvalidFilterQuery(HostplaneError):
    code = "invalid_filter_query"
    status = 400
    title = "Invalid filter"


BY_CODE: dict[str, tuple[str, int | None]] = {
    "authentication_required": ("AuthenticationException", None),
    "invalid_credentials": ("AuthenticationException", None),
    "incorrect_password": ("InvalidPasswordProvidedException", 400),
    "conflict": ("BadRequestHttpException", 400),
    "limit_reached": ("DisplayException", 400),
    "not_found": ("NotFoundHttpException", None),
    "method_not_allowed": ("MethodNotAllowedHttpException", None),
    "too_many_attempts": ("TooManyRequestsHttpException", None),
    "payload_too_large": ("PostTooLargeException", None),
    "unsupported_media_type": ("UnsupportedMediaTypeHttpException", None),
    "bad_header": ("BadRequestHttpException", None),
    "invalid_sort_query": ("InvalidSortQuery", None),
    "invalid_filter_query": ("InvalidFilterQuery", None),
}
"""Core error code -> (Pterodactyl's exception name, its status where it differs from the native one): Pterodactyl
answers a state conflict ("two-factor is already enabled") and the API key limit with 400."""

BY_STATUS = {
    400: "BadRequestHttpException",
    401: "AuthenticationException",
    403: "AccessDeniedHttpException",
    404: "NotFoundHttpException",
    405: "MethodNotAllowedHttpException",
    409: "ConflictHttpException",
    429: "TooManyRequestsHttpException",
}

RULES = {
    "missing": "required",
    "string_type": "string",
    "list_type": "array",
    "int_type": "integer",
    "int_parsing": "integer",
    "bool_type": "boolean",
    "string_too_long": "max",
    "too_long": "max",
    "value_error": "regex",
    "json_invalid": "json",
    "model_attributes_type": "array",
    "model_type": "array",
    "dict_type": "array",
}
"""Pydantic's error types -> Laravel's rule names (core and dialect rules already use Laravel's names)."""

MESSAGES = {
    "missing": "The {attribute} field is required.",
    "string_type": "The {attribute} must be a string.",
    "list_type": "The {attribute} must be an array.",
    "int_type": "The {attribute} must be an integer.",
    "int_parsing": "The {attribute} must be an integer.",
    "bool_type": "The {attribute} field must be true or false.",
}


def _attribute(field: str) -> str:
    """Laravel's displayable attribute name: `current_password` -> `current password`."""
    return field.replace("_", " ")


def _validation_error(item: dict[str, Any]) -> dict[str, Any]:
    field = str(item.get("field") or "")
    native_rule = str(item.get("rule") or "invalid")
    message = str(item.get("message") or "The given data was invalid.")
    body_level = native_rule in ("json_invalid", "model_attributes_type", "model_type", "dict_type") or (
        field == "body" and native_rule == "missing"
    )
    if body_level:
        field, message = "", "The request body must be a JSON object."
    elif native_rule in MESSAGES:
        message = MESSAGES[native_rule].format(attribute=_attribute(field))
    elif native_rule == "value_error":
        message = message.removeprefix("Value error, ")
        message = message[:1].upper() + message[1:]
        message = message if message.endswith(".") else message + "."
    return {
        "code": "ValidationException",
        "status": "422",
        "detail": message,
        "meta": {"source_field": field, "rule": RULES.get(native_rule, native_rule)},
    }


def pterodactyl_errors(problem: dict[str, Any], status: int) -> tuple[int, dict[str, Any]]:
    """The status and body Pterodactyl would answer for a native problem document."""
    code = str(problem.get("code", ""))
    if code == "invalid_input" or status == 422:
        items = problem.get("errors") or [{"field": "", "message": problem.get("detail"), "rule": "invalid"}]
        return 422, {"errors": [_validation_error(item) for item in items]}
    name, override = BY_CODE.get(code, (BY_STATUS.get(status, "HttpException"), None))
    status = override or status
    detail = INTERNAL_DETAIL if status >= 500 else str(problem.get("detail") or "")
    return status, {"errors": [{"code": name, "status": str(status), "detail": detail}]}


class PterodactylErrors(ProblemRerendering):
    """ASGI middleware; it must wrap the edge, so that the edge's own refusals are translated too."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, prefix=PREFIX, translate=pterodactyl_errors)
