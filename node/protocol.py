"""The WebSocket protocol: JSON frames with a ``type``; each type declares its fields.

Other modules register their message types with :func:`message_type`, so validation happens in
one place before any handler runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from node.validation import FORBIDDEN_CHARS, InvalidInput, parse_json_object

MAX_FRAME = 16 * 1024  # every frame, unless its message type declares a larger ``max_frame``


@dataclass(frozen=True)
class Field:
    """One field of a message: its Python type, whether it must be there, and a size bound."""

    kind: type
    required: bool = True
    max_len: int = 4000
    low: int = 0
    high: int = 2**31
    crlf: bool = False  # text may hold CR LF line ends (SDP); a lone CR is still refused


@dataclass(frozen=True)
class MessageType:
    """A message type the node accepts, who may send it, and its fields."""

    name: str
    roles: frozenset[str]
    fields: dict[str, Field] = field(default_factory=dict)
    max_frame: int = MAX_FRAME  # bytes; raised only for types that must carry more (room SDP)


@dataclass(frozen=True)
class Message:
    """A validated incoming frame."""

    type: str
    data: dict[str, Any]
    id: str | None = None


REGISTRY: dict[str, MessageType] = {}
ANYONE = frozenset({"citizen", "volunteer", "staff", "admin"})
STAFF = frozenset({"volunteer", "staff", "admin"})


def message_type(type_name: str, roles: frozenset[str], /, *, max_frame: int = MAX_FRAME,
                 **fields: Field) -> MessageType:
    """Declare a message type (once, at import); ``max_frame`` raises the frame limit for it alone."""
    if not MAX_FRAME <= max_frame <= 1024 * 1024:
        raise ValueError("max_frame is from MAX_FRAME to 1 MiB")
    spec = MessageType(type_name, roles, fields, max_frame)
    REGISTRY[type_name] = spec
    return spec


def largest_frame() -> int:
    """The socket's limit: the largest frame any declared type accepts (each type checks its own)."""
    return max(spec.max_frame for spec in REGISTRY.values())


message_type("ping", ANYONE)


def _check_field(name: str, spec: Field, value: Any) -> Any:
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise InvalidInput(f"field '{name}' must be true or false", "bad_field")
    elif spec.kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or not spec.low <= value <= spec.high:
            raise InvalidInput(f"field '{name}' must be a whole number from {spec.low} to {spec.high}",
                               "bad_field")
    elif spec.kind is str:
        if not isinstance(value, str) or len(value) > spec.max_len:
            raise InvalidInput(f"field '{name}' must be text of at most {spec.max_len} characters",
                               "bad_field")
        if FORBIDDEN_CHARS.search(value.replace("\r\n", "\n") if spec.crlf else value):
            raise InvalidInput(f"field '{name}' contains control characters", "bad_field")
    elif spec.kind in (list, dict):
        if not isinstance(value, spec.kind) or len(value) > spec.max_len:
            raise InvalidInput(f"field '{name}' has the wrong shape", "bad_field")
    return value


def parse_frame(raw: str | bytes, role: str) -> Message:
    """Validate one frame for a sender with ``role``; raise :class:`InvalidInput` with the reason."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    body = parse_json_object(raw, largest_frame())
    kind = body.get("type")
    if not isinstance(kind, str):
        raise InvalidInput("message has no 'type'", "bad_type")
    spec = REGISTRY.get(kind)
    if spec is None:
        raise InvalidInput(f"unknown message type '{kind[:40]}'", "unknown_type")
    if size > spec.max_frame:
        raise InvalidInput(f"message is larger than {spec.max_frame} bytes", "too_large")
    if role not in spec.roles:
        raise InvalidInput(f"'{kind}' is not allowed for you", "forbidden")
    msg_id = body.get("id")
    if msg_id is not None and (not isinstance(msg_id, str) or len(msg_id) > 64):
        raise InvalidInput("field 'id' must be short text", "bad_field")
    unknown = set(body) - set(spec.fields) - {"type", "id"}
    if unknown:
        raise InvalidInput(f"unexpected field '{sorted(unknown)[0][:40]}'", "bad_field")
    data: dict[str, Any] = {}
    for name, fspec in spec.fields.items():
        if name not in body or body[name] is None:
            if fspec.required:
                raise InvalidInput(f"field '{name}' is missing", "bad_field")
            continue
        data[name] = _check_field(name, fspec, body[name])
    return Message(kind, data, msg_id)


class ProtocolRefusal(Exception):
    """A valid request the node refuses (taken already, not yours…); not counted as abuse."""

    def __init__(self, code: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.code, self.reason, self.extra = code, reason, extra


def error_frame(code: str, reason: str, msg_id: str | None = None) -> dict[str, Any]:
    """The frame sent back for refused input."""
    frame: dict[str, Any] = {"type": "error", "code": code, "reason": reason}
    if msg_id is not None:
        frame["id"] = msg_id
    return frame


Handler = Callable[[Any, Message], Awaitable[None]]
