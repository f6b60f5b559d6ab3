"""Logs never carry an address, a key or free text fields beyond the whitelist."""
from __future__ import annotations

import json
import logging

from node.logs import JsonFormatter, scrub


def test_scrub_removes_addresses_and_hex_keys() -> None:
    text = "from 192.168.1.23 and 2001:db8::1 and ::1 and ::ffff:10.0.0.1 key " + "ab" * 32
    cleaned = scrub(text)
    for leak in ("192.168", "2001:db8", "10.0.0.1", "ab" * 32):
        assert leak not in cleaned


def test_formatter_drops_unknown_extras_and_scrubs() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "peer 10.1.2.3 joined", None, None)
    record.body = "a private message"  # not whitelisted: must not appear
    record.route = "/ws"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "peer [addr] joined" and line["route"] == "/ws" and "body" not in line
