"""Structured JSON logs on stdout that never carry an address, a message text or a key."""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
import time
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6_CANDIDATE = re.compile(r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f.]*(?:%\w+)?")
_HEXKEY = re.compile(r"\b[0-9a-fA-F]{32,}\b")
SAFE_EXTRA = ("event", "route", "method", "status", "ms", "role", "count", "version", "port", "url",
              "fingerprint", "conversation", "room", "reason", "account")


def _ipv6(match: re.Match[str]) -> str:
    candidate = match.group(0)
    try:
        ipaddress.IPv6Address(candidate.split("%")[0])
    except ValueError:
        return candidate
    return "[addr]"


def scrub(text: str) -> str:
    """Replace anything that is an IP address (v4 or v6), and long hex strings (key material)."""
    text = _IPV6_CANDIDATE.sub(_ipv6, text)
    text = _IPV4.sub("[addr]", text)
    return _HEXKEY.sub("[hex]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and whitelisted fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key in SAFE_EXTRA:
            if hasattr(record, key):
                value = getattr(record, key)
                entry[key] = scrub(value) if isinstance(value, str) and key != "fingerprint" else value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str = "INFO") -> None:
    """Send all logs, as JSON lines, to stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aioice and aiortc log candidate addresses at debug/info; keep them quiet.
    for noisy in ("aioice", "aiortc", "zeroconf"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class AccessLogger(AbstractAccessLogger):
    """Logs the route pattern, method, status and time; never the address, query or path values."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        route = "unmatched"
        match_info = getattr(request, "match_info", None)
        if match_info is not None and match_info.route.resource is not None:
            route = match_info.route.resource.canonical
        self.logger.info("request", extra={"event": "http", "method": request.method, "route": route,
                                           "status": response.status, "ms": round(time * 1000, 1)})
