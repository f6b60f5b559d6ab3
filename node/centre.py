"""The centre's own settings: topics, canned replies, emergency numbers, hours and retention.

Kept in the store's ``settings`` table as JSON, with Danish defaults a centre can edit.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from node import hours as opening
from node.store import Connection
from node.validation import InvalidInput

DEFAULT_TOPICS = ["Ensomhed", "Angst og uro", "Tanker om selvmord", "Misbrug", "Bolig og penge",
                  "Familie og venner", "Vold", "Andet"]
DEFAULT_CANNED = [
    {"title": "Velkommen", "text": "Hej, du taler med en frivillig her hos os. Hvad har du på hjerte?"},
    {"title": "Tak fordi du skriver", "text": "Tak fordi du skriver til os. Det er modigt at række ud."},
    {"title": "Et øjeblik", "text": "Jeg er her stadig. Giv mig et øjeblik, så skriver jeg til dig."},
    {"title": "Er du i sikkerhed?", "text": "Er du i sikkerhed lige nu? Hvis du er i fare, så ring 112."},
    {"title": "Henter hjælp", "text": "Jeg henter en kollega ind i samtalen, så vi kan hjælpe dig bedst muligt."},
    {"title": "Farvel", "text": "Tak for snakken. Du er altid velkommen til at skrive igen."},
]
DEFAULT_EMERGENCY = [{"label": "Alarm 112", "number": "112"},
                     {"label": "Livslinien (kl. 11–05)", "number": "70201201"},
                     {"label": "Psykiatrisk akutmodtagelse, Region Hovedstaden", "number": "1813"}]
DEFAULT_DECLINES = ["Vi kan ikke tage dit opkald lige nu. Skriv gerne til os i chatten i stedet.",
                    "Alle er optaget lige nu. Prøv igen om lidt, eller bed os ringe dig op.",
                    "Vi kan ikke tale i telefon lige nu. Du kan lægge en besked i postkassen."]
DEFAULT_OUT_OF_HOURS = ("Vi har lukket lige nu. Du kan lægge en besked i postkassen eller bede os ringe dig op. "
                        "Er du i fare, så ring 112.")
STAFF_ROLES = ("volunteer", "staff", "admin")
KEY = "centre"


@dataclass
class Centre:
    """What the centre has chosen; ``retention_days`` applies to chat transcripts."""

    topics: list[str] = field(default_factory=lambda: list(DEFAULT_TOPICS))
    canned: list[dict[str, str]] = field(default_factory=lambda: [dict(c) for c in DEFAULT_CANNED])
    emergency: list[dict[str, str]] = field(default_factory=lambda: [dict(e) for e in DEFAULT_EMERGENCY])
    hours: str = "Når der er en frivillig på vagt, kan du skrive med os her."
    retention_days: int = 30
    timezone: str = opening.DEFAULT_TIMEZONE
    opening_hours: dict[str, list[str]] = field(default_factory=opening.default_week)
    holidays: list[str] = field(default_factory=list)
    out_of_hours: str = DEFAULT_OUT_OF_HOURS
    calls: bool = True
    ring_escalate_s: int = 45
    ring_roles: list[str] = field(default_factory=lambda: ["staff", "admin"])
    letterbox_after_min: int = 5
    call_link_min: int = 5
    handover_hours: int = 24
    decline_messages: list[str] = field(default_factory=lambda: list(DEFAULT_DECLINES))

    def hours_now(self) -> opening.Hours:
        """The opening-hours calculator for these settings."""
        return opening.Hours(self.opening_hours, self.holidays, self.timezone)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text_list(value: Any, name: str, max_items: int, max_len: int) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= max_items:
        raise InvalidInput(f"'{name}' must be a list of 1–{max_items} items", "bad_field")
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item.strip()) <= max_len:
            raise InvalidInput(f"each of '{name}' must be text of 1–{max_len} characters", "bad_field")
    return [item.strip() for item in value]


def _pairs(value: Any, name: str, keys: tuple[str, str], max_items: int, max_len: int) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) > max_items:
        raise InvalidInput(f"'{name}' must be a list of at most {max_items} items", "bad_field")
    out = []
    for item in value:
        if not isinstance(item, dict) or set(item) != set(keys):
            raise InvalidInput(f"each of '{name}' needs exactly {keys[0]!r} and {keys[1]!r}", "bad_field")
        for key in keys:
            if not isinstance(item[key], str) or not 1 <= len(item[key]) <= max_len:
                raise InvalidInput(f"'{name}.{key}' must be text of 1–{max_len} characters", "bad_field")
        out.append({k: item[k].strip() for k in keys})
    return out


def _whole(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"'{key}' must be a whole number from {low} to {high}", "bad_field")
    return value


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    if not isinstance(body[key], str) or len(body[key]) > limit:
        raise InvalidInput(f"'{key}' must be text of at most {limit} characters", "bad_field")
    return str(body[key]).strip()


def _roles(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > len(STAFF_ROLES) or len(set(map(str, value))) != len(value) \
            or not all(role in STAFF_ROLES for role in value):
        raise InvalidInput("'ring_roles' is a list of different roles: volunteer, staff, admin", "bad_field")
    return list(value)


_WHOLE = {"retention_days": (1, 365), "ring_escalate_s": (10, 600), "letterbox_after_min": (1, 60),
          "call_link_min": (1, 30), "handover_hours": (1, 168)}


def _calls(body: dict[str, Any], new: Centre) -> None:
    """The call, hours and handover settings of a partial update (section 9.1 of docs/api.md)."""
    if "timezone" in body:
        new.timezone = opening.validated_timezone(body["timezone"])
    if "opening_hours" in body:
        new.opening_hours = opening.validated_week(body["opening_hours"])
    if "holidays" in body:
        new.holidays = opening.validated_holidays(body["holidays"])
    if "out_of_hours" in body:
        new.out_of_hours = _text(body, "out_of_hours", 500)
    if "calls" in body:
        if not isinstance(body["calls"], bool):
            raise InvalidInput("'calls' must be true or false", "bad_field")
        new.calls = body["calls"]
    if "ring_roles" in body:
        new.ring_roles = _roles(body["ring_roles"])
    if "decline_messages" in body:
        new.decline_messages = _text_list(body["decline_messages"], "decline_messages", 10, 300)
    for key, (low, high) in _WHOLE.items():
        if key in body:
            setattr(new, key, _whole(body, key, low, high))


def validated(body: dict[str, Any], current: Centre) -> Centre:
    """A new Centre from a (partial) JSON update; unknown keys and bad values are refused."""
    allowed = set(Centre.__dataclass_fields__)
    unknown = set(body) - allowed
    if unknown:
        raise InvalidInput(f"unknown setting '{sorted(unknown)[0][:40]}'", "bad_field")
    new = Centre(**current.to_json())
    if "topics" in body:
        new.topics = _text_list(body["topics"], "topics", 30, 60)
        if "Andet" not in new.topics:
            new.topics.append("Andet")
    if "canned" in body:
        new.canned = _pairs(body["canned"], "canned", ("title", "text"), 100, 2000)
    if "emergency" in body:
        new.emergency = _pairs(body["emergency"], "emergency", ("label", "number"), 10, 80)
        for entry in new.emergency:
            if not all(ch.isdigit() or ch in "+ " for ch in entry["number"]):
                raise InvalidInput("emergency numbers may hold only digits, spaces and +", "bad_field")
    if "hours" in body:
        new.hours = _text(body, "hours", 500)
    _calls(body, new)
    return new


def load(conn: Connection) -> Centre:
    """The stored settings, or the defaults."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (KEY,)).fetchone()
    if row is None:
        return Centre()
    return validated(json.loads(row[0]), Centre())


def save(conn: Connection, centre: Centre) -> None:
    conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                 (KEY, json.dumps(centre.to_json(), ensure_ascii=False)))
