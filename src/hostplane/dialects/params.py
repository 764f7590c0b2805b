"""The one reader of a dialect request's parameters: the query string, a form body (urlencoded or multipart) or a
JSON object, with the same hygiene in every dialect, and typed reads bounded as the native API bounds them.

- The body goes through the guarded body reader (hostplane.api.bodies): the size limit, and for JSON the nesting
  limit. A body in an encoding the dialect does not take is refused, never silently ignored.
- At most `max_fields` parameters; names of at most 64 characters; values of at most `max_value_chars`, except the
  fields the dialect declares multiline (PEM text), bounded by the body limit only.
- Control characters are refused in every name and value; multiline fields may hold CR, LF and TAB.
- A name given twice is refused, unless the dialect takes repeats (WHM's lists): then single reads take the last.
- Typed reads: identifiers and integers, booleans and Unix times, with hostplane.validation's bounds.

Every refusal is a core error (InvalidInput naming the parameter, UnreadableBody, UnsupportedMediaType,
PayloadTooLarge, NotFound): nothing here knows a wire shape, each dialect maps core errors to its own in one place.
(The Pterodactyl dialect's JSON bodies are parsed by FastAPI into its request models; the edge guards them first
with the same checks, as it does every JSON body of the native API.)
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from hostplane import validation
from hostplane.api.bodies import PayloadTooLarge, UnreadableBody, UnsupportedMediaType, parse_json
from hostplane.errors import InvalidInput, NotFound

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
FORMS = frozenset({URLENCODED, MULTIPART})
MAX_NAME_CHARS = 64
NUMBERED = re.compile(r"^(?P<name>[a-z_-]+)-(?P<index>\d{1,4})$")
NAME = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,64}$")
"""A name safe to repeat in a message; any other is shown as “(parameter)”."""
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})
MULTILINE_CONTROLS = frozenset("\r\n\t")


@dataclass(frozen=True)
class Reading:
    """How one dialect sends its parameters."""

    bodies: frozenset[str] = FORMS
    """The body encodings it takes (URLENCODED, MULTIPART, JSON); an empty body is always fine."""
    query: bool = True
    """Whether the query string carries parameters too (read before the body)."""
    max_fields: int = 32
    max_value_chars: int = 4096
    multiline: frozenset[str] = frozenset()
    """Fields whose values may hold line breaks and tabs, with no length limit but the body's (PEM text)."""
    repeats: bool = False
    """Whether a name may come more than once (lists); single reads then take the last value."""
    files: bool = False
    """Whether multipart file parts are taken (as their UTF-8 text, the way `curl -F name=@file` sends PEM)."""


def shown(name: str) -> str:
    return name if NAME.match(name) else "(parameter)"


def _unreadable(detail: str = "The request parameters could not be read.") -> UnreadableBody:
    return UnreadableBody(detail)


class Params:
    """The parameters of one request, as (name, value) pairs in the order given (already held to the hygiene rules
    by read_params); each typed read checks its value against its bounds."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str) -> str | None:
        """The (last) value of a parameter, as given, or None when it is absent."""
        found = [value for key, value in self.pairs if key == name]
        return found[-1] if found else None

    def optional(self, name: str, *, max_chars: int | None = None) -> str | None:
        """The value, or None when absent or empty."""
        value = self.get(name)
        if not value:
            return None
        if max_chars is not None and len(value) > max_chars:
            raise InvalidInput.on(name, f"The {shown(name)} may not be greater than {max_chars} characters.", "max")
        return value

    def required(self, name: str, *, max_chars: int | None = None) -> str:
        value = self.optional(name, max_chars=max_chars)
        if value is None or not value.strip():
            raise InvalidInput.on(name, f"The parameter “{shown(name)}” is required.", "required")
        return value

    def has(self, *names: str) -> bool:
        return any(self.many(name) for name in names)

    def many(self, *names: str) -> list[str]:
        """A list: `name` repeated and `name-0`, `name-1`, ... in index order (WHM's way); several spellings may
        be given (WHM's own examples mix `whitelist_ip-N` and `whitelist-ip-N`)."""
        plain: list[str] = []
        numbered: list[tuple[int, str]] = []
        for key, value in self.pairs:
            if key in names:
                plain.append(value)
                continue
            match = NUMBERED.match(key)
            if match and match["name"] in names:
                numbered.append((int(match["index"]), value))
        return plain + [value for _, value in sorted(numbered, key=lambda item: item[0])]

    def only(self, names: Iterable[str]) -> None:
        """Refuse any parameter but these (for a dialect whose reference refuses unknown fields)."""
        known = set(names)
        for key, _ in self.pairs:
            if key not in known:
                raise InvalidInput.on(key, f"The parameter “{shown(key)}” is not accepted here.", "prohibited")

    def identifier(self, name: str, *, not_found: str | None = None) -> int:
        """A required row id: see `identifier`."""
        return identifier(self.required(name), name, not_found=not_found)

    def integer(self, name: str, *, minimum: int = 0, maximum: int = validation.MAX_INT) -> int | None:
        value = self.optional(name)
        return None if value is None else validation.integer(value, name, minimum=minimum, maximum=maximum)

    def boolean(self, name: str, *, default: bool = False) -> bool:
        """1/true/yes/on or 0/false/no/off (any case); absent is the default; anything else is refused."""
        value = self.get(name)
        if value is None:
            return default
        word = value.strip().lower()
        if word in TRUE:
            return True
        if word in FALSE:
            return False
        raise InvalidInput.on(name, f"The {shown(name)} must be 1 or 0 (true or false).", "boolean")

    def unix_time(self, name: str) -> dt.datetime | None:
        """Seconds since 1970, before hostplane.validation.MAX_YEAR; None when absent (given but empty is refused)."""
        value = self.get(name)
        return None if value is None else validation.unix_time(value, name)


def identifier(value: str, name: str, *, not_found: str | None = None) -> int:
    """A row id as a client sends it (in a path or a parameter): digits, 1 to hostplane.validation.MAX_ID. With
    `not_found`, an id no row can have (0, or beyond the bound) is that NotFound, as a dialect whose reference
    answers "not found" for it wants; without it, it is invalid input like anything else that is not an id."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput.on(name, f"The {shown(name)} must be a number.", "integer")
    try:
        return validation.identifier(text, name)
    except InvalidInput:
        if not_found is None:
            raise
        raise NotFound(not_found) from None


def _check(name: str, value: str, reading: Reading) -> None:
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidInput.on(
            "(parameter)", "A parameter name contains control characters (such as CR or LF).", "regex"
        )
    if len(name) > MAX_NAME_CHARS:
        raise _unreadable(f"A parameter name is longer than {MAX_NAME_CHARS} characters.")
    allowed = MULTILINE_CONTROLS if name in reading.multiline else frozenset()
    if any(unicodedata.category(char) == "Cc" and char not in allowed for char in value):
        raise InvalidInput.on(
            name, f"The parameter “{shown(name)}” contains control characters (such as CR or LF).", "regex"
        )
    if name not in reading.multiline and len(value) > reading.max_value_chars:
        raise InvalidInput.on(
            name, f"The {shown(name)} may not be greater than {reading.max_value_chars} characters.", "max"
        )


def _urlencoded(text: str, max_fields: int) -> list[tuple[str, str]]:
    try:
        return urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields, errors="strict")
    except UnicodeDecodeError as exc:
        raise _unreadable("The parameters must be UTF-8.") from exc
    except ValueError as exc:  # more than max_fields
        raise _unreadable("Too many parameters.") from exc


def _json_pairs(body: bytes, max_bytes: int) -> list[tuple[str, str]]:
    document = parse_json(body, max_bytes=max_bytes)
    if not isinstance(document, dict):
        raise _unreadable("The body must be a JSON object.")
    pairs: list[tuple[str, str]] = []
    for key, value in document.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput.on(key, f"The {shown(key)} must be a string.", "string")
        pairs.append((key, value))
    return pairs


async def _multipart(request: Request, reading: Reading) -> list[tuple[str, str]]:
    try:
        form = await request.form(max_files=reading.max_fields if reading.files else 0, max_fields=reading.max_fields)
    except (HTTPException, MultiPartException) as exc:
        raise _unreadable() from exc
    pairs: list[tuple[str, str]] = []
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                try:
                    pairs.append((key, (await value.read()).decode("utf-8")))
                except UnicodeDecodeError as exc:
                    raise _unreadable(f"The {shown(key)} must be UTF-8 text.") from exc
            else:
                pairs.append((key, value))
    finally:
        await form.close()
    return pairs


async def _body_pairs(request: Request, reading: Reading) -> list[tuple[str, str]]:
    body = await request.body()
    if not body:
        return []
    max_bytes: int = request.app.state.runtime.settings.max_body_bytes
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"Request bodies are limited to {max_bytes} bytes.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in reading.bodies:
        wanted = "a JSON object" if reading.bodies == {JSON} else "form fields (multipart/form-data or urlencoded)"
        raise UnsupportedMediaType(f"Send the parameters as {wanted}.")
    if content_type == JSON:
        return _json_pairs(body, max_bytes)
    if content_type == URLENCODED:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _unreadable("The parameters must be UTF-8.") from exc
        return _urlencoded(text, reading.max_fields)
    return await _multipart(request, reading)


async def read_params(request: Request, reading: Reading) -> Params:
    """Every parameter of the request, checked (see the module); raises core errors."""
    pairs: list[tuple[str, str]] = []
    if reading.query:
        pairs += _urlencoded(request.scope.get("query_string", b"").decode("latin-1"), reading.max_fields)
    pairs += await _body_pairs(request, reading)
    if len(pairs) > reading.max_fields:
        raise _unreadable("Too many parameters.")
    seen: set[str] = set()
    for name, value in pairs:
        _check(name, value, reading)
        if name in seen and not reading.repeats:
            raise InvalidInput.on(name, f"The parameter “{shown(name)}” was given more than once.", "distinct")
        seen.add(name)
    return Params(pairs)
