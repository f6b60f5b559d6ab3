"""The centre's own settings: topics, canned replies, emergency numbers, hours and retention.

Kept in the store's ``settings`` table as JSON, with Danish defaults a centre can edit.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

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
KEY = "centre"


@dataclass
class Centre:
    """What the centre has chosen; ``retention_days`` applies to chat transcripts."""

    topics: list[str] = field(default_factory=lambda: list(DEFAULT_TOPICS))
    canned: list[dict[str, str]] = field(default_factory=lambda: [dict(c) for c in DEFAULT_CANNED])
    emergency: list[dict[str, str]] = field(default_factory=lambda: [dict(e) for e in DEFAULT_EMERGENCY])
    hours: str = "Når der er en frivillig på vagt, kan du skrive med os her."
    retention_days: int = 30

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


def validated(body: dict[str, Any], current: Centre) -> Centre:
    """A new Centre from a (partial) JSON update; unknown keys and bad values are refused."""
    allowed = {"topics", "canned", "emergency", "hours", "retention_days"}
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
        if not isinstance(body["hours"], str) or len(body["hours"]) > 500:
            raise InvalidInput("'hours' must be text of at most 500 characters", "bad_field")
        new.hours = body["hours"].strip()
    if "retention_days" in body:
        days = body["retention_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
            raise InvalidInput("'retention_days' must be a whole number from 1 to 365", "bad_field")
        new.retention_days = days
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
