"""Reading fields of node frames tolerantly: a wrong type becomes a blank, never an exception."""
from __future__ import annotations

import math
from typing import Any


def text(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def opt_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def flag(data: dict[str, Any], key: str) -> bool:
    return data.get(key) is True


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError:  # a whole number too large for a float
            return None
        return result if math.isfinite(result) else None
    return None


def number(data: dict[str, Any], key: str, default: float = 0.0) -> float:
    value = _finite(data.get(key))
    return default if value is None else value


def opt_number(data: dict[str, Any], key: str) -> float | None:
    return _finite(data.get(key))


def conversation(data: dict[str, Any]) -> str | None:
    value = data.get("conversation")
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    return None


def window(data: dict[str, Any]) -> tuple[float, float] | None:
    """A ``[from, to]`` pair of Unix times, or None."""
    value = data.get("window")
    if isinstance(value, list) and len(value) == 2:
        start, end = _finite(value[0]), _finite(value[1])
        if start is not None and end is not None:
            return start, end
    return None


def dicts(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The objects in a list field; anything else is skipped."""
    value = data.get(key)
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []
