"""Checks for JSON bodies from outside: size, shape and field types, with plain reasons."""
from __future__ import annotations

import json
import re
from typing import Any

MAX_BODY = 16 * 1024
# control characters other than tab and newline, and lone surrogates
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


class InvalidInput(ValueError):
    """Outside input was refused; ``reason`` is safe to show to the sender."""

    def __init__(self, reason: str, code: str = "invalid") -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


def parse_json_object(raw: bytes | str, max_bytes: int = MAX_BODY) -> dict[str, Any]:
    """Parse a JSON object of at most ``max_bytes``; anything else raises :class:`InvalidInput`."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise InvalidInput(f"message is larger than {max_bytes} bytes", "too_large")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("message is not valid JSON", "bad_json") from None
    if not isinstance(value, dict):
        raise InvalidInput("message must be a JSON object", "bad_json")
    return value


def text_field(body: dict[str, Any], name: str, *, max_len: int = 256, min_len: int = 1,
               required: bool = True) -> str | None:
    """A string field of bounded length, without control characters other than newline and tab."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"field '{name}' must be text", "bad_field")
    if not min_len <= len(value) <= max_len:
        raise InvalidInput(f"field '{name}' must have {min_len}–{max_len} characters", "bad_field")
    if FORBIDDEN_CHARS.search(value):
        raise InvalidInput(f"field '{name}' contains control characters", "bad_field")
    return value


def bool_field(body: dict[str, Any], name: str, *, default: bool | None = None) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"field '{name}' must be true or false", "bad_field")
    return value


def int_field(body: dict[str, Any], name: str, *, low: int, high: int, default: int | None = None) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"field '{name}' must be a whole number from {low} to {high}", "bad_field")
    return value
