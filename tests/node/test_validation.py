"""Parsers of outside input never fail with anything but a clear InvalidInput."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.protocol import MAX_FRAME, REGISTRY, parse_frame
from node.validation import InvalidInput, bool_field, int_field, parse_json_object, text_field

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=4), max_leaves=20)


@given(st.binary(max_size=2000) | st.text(max_size=2000))
def test_parse_json_object_only_returns_dicts_or_refuses(raw: bytes | str) -> None:
    try:
        assert isinstance(parse_json_object(raw), dict)
    except InvalidInput as exc:
        assert exc.reason and exc.code in ("bad_json", "too_large")


@given(json_values)
def test_any_json_value_is_handled(value: object) -> None:
    try:
        raw = json.dumps(value)
    except ValueError:
        return
    try:
        assert isinstance(parse_json_object(raw), dict)
    except InvalidInput:
        assert not isinstance(value, dict) or len(raw) > 16 * 1024


def test_deep_nesting_is_refused_not_crashing() -> None:
    with pytest.raises(InvalidInput):
        parse_json_object("[" * 100_000 + "]" * 100_000, max_bytes=10**6)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4), st.text(max_size=5))
def test_field_readers_refuse_cleanly(body: dict[str, object], name: str) -> None:
    for read in (lambda: text_field(body, name), lambda: bool_field(body, name),
                 lambda: int_field(body, name, low=0, high=10)):
        try:
            read()
        except InvalidInput as exc:
            assert name in exc.reason


@settings(max_examples=300)
@given(st.text(max_size=300) | json_values.map(lambda v: json.dumps(v, default=str)),
       st.sampled_from(["citizen", "volunteer", "staff", "admin"]))
def test_parse_frame_returns_message_or_refuses(raw: str, role: str) -> None:
    try:
        msg = parse_frame(raw, role)
    except InvalidInput as exc:
        assert exc.code in ("bad_json", "too_large", "bad_type", "unknown_type", "forbidden", "bad_field")
    else:
        assert msg.type in REGISTRY


def test_oversize_frame_is_refused() -> None:
    with pytest.raises(InvalidInput, match="larger"):
        parse_frame(json.dumps({"type": "ping", "id": "x" * MAX_FRAME}), "citizen")


def test_text_field_refuses_control_characters() -> None:
    with pytest.raises(InvalidInput, match="control"):
        text_field({"name": "a\x00b"}, "name")
    assert text_field({"name": "linje 1\nlinje 2"}, "name") == "linje 1\nlinje 2"
