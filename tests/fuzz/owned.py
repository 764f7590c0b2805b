"""Classes of bad input that the `input` branch owns and fixes: the fuzz run does not send them (it counts them as
excluded), so that it stays green on this branch while they are fixed there, without weakening its assertion for
anything else. Remove each exclusion when the `input` branch has merged (its tests then hold the class, and this run
sends the inputs again).

Owned by `input` (issue 8's brief): integers beyond 64 bits in ids; dates at the extremes (API key and WHM
`expires_at`); certificates with malformed or duplicated subjectAltName; deeply nested JSON bodies; the domain-name
grammar (IDNA); a single parameter reader for the dialects.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fuzz.request import Cat, FormBody, JsonBody, Live, RawBody, Request, Seg

ID_RANGE = range(-(2**31), 2**31)
"""The `input` branch's class is named "integers beyond 64 bits in ids", but the id columns are 32-bit INTEGER: on
PostgreSQL every id from 2**31 up already fails the query (asyncpg: "value out of int32 range"), so the class the run
finds, and excludes here, starts there."""
INTEGER = re.compile(r"^\s*[+-]?[0-9]+\s*$")
NESTING_LIMIT = 200
"""JSON nested deeper than this is the `input` branch's class; shallower nesting is still sent."""

HUGE_ID = "input: integer beyond 64 bits as an id (32 bits on PostgreSQL)"
DEEP_JSON = "input: deeply nested JSON body"
EXTREME_DATE = "input: date at the extremes as expires_at"
LAST_SECOND = 253402300799
"""9999-12-31T23:59:59Z as a Unix timestamp: a later WHM `expires_at` is no datetime (an internal error today)."""
YEAR = re.compile(r"^\s*([0-9]{4,})-")


def _out_of_range(value: Any) -> bool:
    if isinstance(value, bool | Live | Cat):
        return False
    if isinstance(value, int):
        return value not in ID_RANGE
    if isinstance(value, str) and value.isascii() and INTEGER.match(value):
        return int(value) not in ID_RANGE
    return False


def _id_field(name: Any) -> bool:
    return isinstance(name, str) and (name == "id" or name.endswith("_id") or name.endswith("-id"))


def _json_ids(value: Any) -> bool:
    """An `*_id` member anywhere in a JSON document holding an integer beyond 64 bits."""
    if isinstance(value, dict):
        return any((_id_field(k) and _out_of_range(v)) or _json_ids(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_json_ids(item) for item in value)
    return False


def _nesting(data: bytes) -> int:
    depth = deepest = 0
    for byte in data:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _extreme_date(name: Any, value: Any) -> bool:
    """`expires_at` as an ISO date in the year 9999 (or 1 and before), or as a timestamp past the year 9999."""
    if name != "expires_at" or not isinstance(value, str):
        return False
    year = YEAR.match(value)
    if year is not None:
        return not 1 < int(year.group(1)) < 9999
    return value.strip().isascii() and value.strip().isdigit() and int(value) > LAST_SECOND


def owned_elsewhere(request: Request) -> str | None:
    """The class of the request's bad input if the `input` branch owns it, else None."""
    if any(isinstance(piece, Seg) and _out_of_range(piece.value) for piece in request.path):
        return HUGE_ID
    pairs = list(request.query)
    if isinstance(request.body, FormBody):
        pairs += request.body.pairs
    if any(_id_field(name) and _out_of_range(value) for name, value in pairs):
        return HUGE_ID
    if isinstance(request.body, JsonBody) and _json_ids(request.body.value):
        return HUGE_ID
    if any(_extreme_date(name, value) for name, value in pairs):
        return EXTREME_DATE
    body = request.body.value if isinstance(request.body, JsonBody) else None
    if isinstance(body, dict) and _extreme_date("expires_at", body.get("expires_at")):
        return EXTREME_DATE
    if isinstance(request.body, RawBody) and _nesting(request.body.data) > NESTING_LIMIT:
        return DEEP_JSON
    return None
