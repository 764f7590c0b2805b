"""The guarded reading of request bodies: a size limit and a JSON nesting limit, for the native API and every
dialect.

Python's JSON decoder recurses once per nesting level: a body of a few thousand `[` raises RecursionError (not a
ValueError), which escaped as a 500. `too_deep` finds such a body in one linear pass without recursing, before
anything parses it; the edge runs it on the native API's JSON bodies (which FastAPI parses), and `parse_json` runs
it for the dialects that parse JSON themselves (through hostplane.dialects.params). Refusals are core errors, so
each dialect answers them in its own shape.
"""

from __future__ import annotations

import json
import operator
from itertools import accumulate, count
from typing import Any

from hostplane.errors import HostplaneError

MAX_JSON_DEPTH = 32
"""Nesting levels of arrays and objects; no route takes a body deeper than three."""
_OPEN, _CLOSE = 2, 0
_STEPS = bytes.maketrans(b"[{]}", bytes([_OPEN, _OPEN, _CLOSE, _CLOSE]))
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


class UnreadableBody(HostplaneError):
    code = "unreadable_body"
    status = 400
    title = "Unreadable body"


class UnsupportedMediaType(HostplaneError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class PayloadTooLarge(HostplaneError):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"


def too_deep(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays and objects deeper than max_depth. Every step runs at C speed (a 1 MiB
    body takes milliseconds, tenths of a second at worst), and nothing recurses. Invalid JSON may answer either
    way: the parser refuses it next."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:  # the common case
        return False
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")  # escaped backslashes, then escaped quotes
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    steps = outside_strings.translate(_STEPS, _NOT_BRACKETS)
    if steps.count(_OPEN) <= max_depth:
        return False
    if bytes([_OPEN]) * (max_depth + 1) in steps:  # a plain run of openers, the usual attack
        return True
    # depth after k brackets = opened - closed = (sum of the k steps) - k, with an opener worth 2 and a closer 0
    deepest: int = max(map(operator.sub, accumulate(steps), count(1)))
    return deepest > max_depth


def deep_body_error(max_depth: int = MAX_JSON_DEPTH) -> UnreadableBody:
    return UnreadableBody(f"The JSON body is nested too deeply (at most {max_depth} levels).")


class _RepeatedKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):  # parsers disagree on which one wins: none does
        raise _RepeatedKey
    return document


def parse_json(raw: bytes, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of a body, or a core error: too large (413), too deeply nested, not JSON in UTF-8, or an
    object with a key given twice (400)."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"Request bodies are limited to {max_bytes} bytes.")
    if too_deep(raw, max_depth):
        raise deep_body_error(max_depth)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_object)
    except _RepeatedKey as exc:
        raise UnreadableBody("A key of the JSON body is given more than once.") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also numbers of 4300+ digits
        raise UnreadableBody("The body is not valid JSON.") from exc
