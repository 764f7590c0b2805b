"""Reading an EasySuperSecureEmail request's parameters: query string plus a form body, on every method.

`curl -F` sends multipart/form-data (also on GET and DELETE, as the reference does); x-www-form-urlencoded works
too. A body in any other encoding is refused (415). Hygiene of the encoding only, the core checks the values:
at most MAX_FIELDS parameters, each given once, UTF-8, no control characters (PEM fields may hold line breaks
and tabs), at most MAX_VALUE_CHARS characters except PEM fields (bounded by the edge's body limit).
"""

from __future__ import annotations

import unicodedata
import urllib.parse

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from hostplane import validation
from hostplane.dialects.easymail.errors import UnsupportedEncoding
from hostplane.errors import InvalidInput, NotFound

MAX_FIELDS = 32
MAX_VALUE_CHARS = 4096
PEM_FIELDS = frozenset({"ssl_certificate", "ssl_certificate_key", "ssl_certificate_chain"})
MAX_ID = 2**31 - 1
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def _unreadable(detail: str = "The request parameters could not be read.") -> InvalidInput:
    return InvalidInput.on("(body)", detail, "encoding")


class Params:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def optional(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise InvalidInput.on(name, f"The {name} parameter is required.", "required")
        return value

    def ident(self, name: str) -> int:
        return identifier(self.required(name), name)


def identifier(value: str, name: str) -> int:
    """A row id as the client sends it; one no row can have is "not found"."""
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput.on(name, f"The {name} must be a number.", "integer")
    number = int(value) if len(value) <= 12 else MAX_ID + 1
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"No such {'mail domain' if name == 'domain_id' else 'user'}.")
    return number


def _check(name: str, value: str) -> None:
    if len(name) > 64 or any(unicodedata.category(c) == "Cc" for c in name):
        raise _unreadable("A parameter name is not valid.")
    if name in PEM_FIELDS:
        if any(unicodedata.category(c) == "Cc" and c not in "\r\n\t" for c in value):
            raise InvalidInput.on(name, "Control characters are not allowed.", "regex")
        return
    validation.reject_control_chars(name, value)
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidInput.on(name, f"The {name} may not be greater than {MAX_VALUE_CHARS} characters.", "max")


async def _form_pairs(request: Request, content_type: str) -> list[tuple[str, str]]:
    body = await request.body()
    if not body:
        return []
    if content_type == URLENCODED:
        try:
            text = body.decode("utf-8")
            return urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            raise _unreadable() from exc
    if content_type != MULTIPART:
        raise UnsupportedEncoding("Send the parameters as form fields (multipart/form-data or urlencoded).")
    try:
        form = await request.form(max_files=MAX_FIELDS, max_fields=MAX_FIELDS)
    except (HTTPException, MultiPartException) as exc:
        raise _unreadable() from exc
    pairs: list[tuple[str, str]] = []
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):  # `-F name=@file`: the file's text is the value
                try:
                    pairs.append((key, (await value.read()).decode("utf-8")))
                except UnicodeDecodeError as exc:
                    raise _unreadable(f"The {key[:64]} must be UTF-8 text.") from exc
            else:
                pairs.append((key, value))
    finally:
        await form.close()
    return pairs


async def read_params(request: Request) -> Params:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    pairs = list(request.query_params.multi_items())
    if len(pairs) > MAX_FIELDS:
        raise _unreadable("Too many parameters.")
    pairs += await _form_pairs(request, content_type)
    if len(pairs) > MAX_FIELDS:
        raise _unreadable("Too many parameters.")
    values: dict[str, str] = {}
    for name, value in pairs:
        _check(name, value)
        if name in values:
            raise InvalidInput.on(name, f"The {name} parameter was given more than once.", "distinct")
        values[name] = value
    return Params(values)
