"""The guarded body reader: JSON nesting is measured without recursing and without parsing, so a body of a
thousand `[` is refused before Python's decoder would raise RecursionError on it."""

from __future__ import annotations

import json

import pytest

from hostplane.api.bodies import (
    MAX_JSON_DEPTH,
    PayloadTooLarge,
    UnreadableBody,
    parse_json,
    too_deep,
)


def nested(depth: int, inner: str = "1") -> bytes:
    """`depth` levels of alternating arrays and objects around `inner`."""
    text = inner
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k": {text}}}'
    return text.encode()


@pytest.mark.parametrize("depth", [0, 1, 3, MAX_JSON_DEPTH])
def test_bodies_up_to_the_depth_limit_pass(depth: int) -> None:
    body = nested(depth)
    assert not too_deep(body)
    assert parse_json(body, max_bytes=1 << 20) == json.loads(body)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 10_000])
def test_bodies_beyond_the_depth_limit_are_refused_without_recursing(depth: int) -> None:
    for body in (nested(depth), b"[" * depth + b"]" * depth, b"[" * depth, b'{"a":' * depth):
        assert too_deep(body)
        with pytest.raises(UnreadableBody, match="nested too deeply"):
            parse_json(body, max_bytes=1 << 20)


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"a": "[" * 1000, "b": ["{" * 1000, '\\"[[[', "]]]"]}).encode()
    assert not too_deep(body)


def test_escaped_quotes_and_backslashes_do_not_hide_brackets() -> None:
    inside = json.dumps("\\") + "," + json.dumps('x"y')
    shallow = ("[" * MAX_JSON_DEPTH + inside + "]" * MAX_JSON_DEPTH).encode()
    deep = ("[" * (MAX_JSON_DEPTH + 1) + inside + "]" * (MAX_JSON_DEPTH + 1)).encode()
    assert not too_deep(shallow)
    assert too_deep(deep)


def test_many_shallow_values_are_not_too_deep() -> None:
    body = json.dumps([[i, {"k": [i]}] for i in range(50_000)]).encode()
    assert not too_deep(body)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"a": 1', b"\xff\xfe", b"1" * 5000, b'{"a": ' + b"9" * 5000 + b"}", b""],
    ids=["garbage", "truncated", "not-utf8", "huge-number", "huge-number-in-object", "empty"],
)
def test_what_is_not_json_is_an_unreadable_body(body: bytes) -> None:
    with pytest.raises(UnreadableBody):
        parse_json(body, max_bytes=1 << 20)


def test_a_body_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_json(b"[" * 2000, max_bytes=1000)


def test_a_key_given_twice_is_refused_at_any_level() -> None:
    for body in (b'{"a": 1, "a": 2}', b'{"x": [{"a": 1, "a": 1}]}'):
        with pytest.raises(UnreadableBody, match="more than once"):
            parse_json(body, max_bytes=1 << 20)
