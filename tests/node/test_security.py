"""Same-origin checks."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node.security import origin_allowed


def test_same_origin_with_and_without_default_ports() -> None:
    assert origin_allowed("https://node.local:8443", "node.local:8443", [])
    assert origin_allowed("https://fristed.example", "fristed.example", [])
    assert origin_allowed("https://fristed.example:443", "fristed.example", [])
    assert origin_allowed("https://NODE.local:8443", "node.local:8443", [])


def test_other_origins_are_refused() -> None:
    assert not origin_allowed("https://evil.example", "node.local:8443", [])
    assert not origin_allowed("https://node.local:8444", "node.local:8443", [])
    assert not origin_allowed("https://node.local.evil.example:8443", "node.local:8443", [])
    assert not origin_allowed("null", "node.local:8443", [])
    assert not origin_allowed("file://", "node.local:8443", [])
    assert not origin_allowed("https://node.local:8443/path", "node.local:8443", [])
    assert not origin_allowed(None, "node.local:8443", [])


def test_configured_extra_origin() -> None:
    assert origin_allowed("https://proxy.example", "127.0.0.1:8080", ["https://proxy.example"])


@given(st.text(max_size=80), st.text(max_size=40))
def test_origin_check_never_raises(origin: str, host: str) -> None:
    assert origin_allowed(origin, host, []) in (True, False)
