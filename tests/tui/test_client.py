"""tui.client against a real node: the probe, pinned TLS, login, frames."""
from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.ca import ensure_local_tls
from node.clock import ManualClock
from node.server import RunningNode
from tests.conftest import base_url, enrol
from tui.client import (Identity, LoginError, NodeClient, ProbeError, check_url, parse_frame,
                        probe_identity)


async def test_probe_reads_the_nodes_ca_fingerprint(node: RunningNode) -> None:
    identity = await probe_identity(base_url(node))
    assert node.ctx.tls is not None
    assert identity.kind == "ca" and identity.fingerprint == node.ctx.tls.fingerprint
    ctx = identity.ssl()
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED
    # the same identity, reached by address rather than name, is still accepted
    identity2 = await probe_identity(f"https://127.0.0.1:{node.port}")
    assert identity2 == identity


async def test_login_over_pinned_tls(node: RunningNode, clock: ManualClock) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    identity = await probe_identity(base_url(node))
    client = NodeClient(base_url(node), identity)
    try:
        with pytest.raises(LoginError) as err:
            await client.login("Anna", "forkert", anna.code())
        assert err.value.code == "login_failed"
        body = await client.login(**anna.login_body())
        assert body["account"]["role"] == "volunteer" and client.token
        canned = await client.get_json("/api/chat/canned")
        assert canned and canned["canned"][0]["title"]
        await client.logout()
        assert client.token is None
    finally:
        await client.close()


async def test_another_ca_is_refused(node: RunningNode, clock: ManualClock, tmp_path: Path) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    other = ensure_local_tls(tmp_path / "impostor", "impostor", ["localhost"], [])
    assert other.ca_cert is not None
    fake = Identity("ca", other.fingerprint, other.ca_cert.read_bytes())
    client = NodeClient(base_url(node), fake)
    try:
        with pytest.raises(LoginError) as err:
            await client.login(**anna.login_body())
        assert err.value.code == "certificate"
    finally:
        await client.close()
    leaf_pin = Identity("leaf", ":".join(["00"] * 32))
    client = NodeClient(base_url(node), leaf_pin)
    try:
        with pytest.raises(LoginError) as err:
            await client.login(**anna.login_body())
        assert err.value.code == "certificate"
    finally:
        await client.close()


async def test_unreachable_node_is_a_clear_error() -> None:
    with pytest.raises(ProbeError, match="Kan ikke nå"):
        await probe_identity("https://127.0.0.1:9", timeout=2)


def test_urls() -> None:
    assert check_url("fristed.local:8443/") == "https://fristed.local:8443"
    assert check_url("http://localhost:8080") == "http://localhost:8080"
    with pytest.raises(ProbeError):
        check_url("http://fristed.local:8080")  # never plain HTTP over the network
    with pytest.raises(ProbeError):
        check_url("ftp://x")


def test_parse_frame() -> None:
    assert parse_frame('{"type": "pong"}') == {"type": "pong"}
    assert parse_frame(b'{"type": "queue", "items": []}') == {"type": "queue", "items": []}
    for bad in ("{", "[]", '{"type": 5}', '"x"', b"\xff", '{"no": 1}'):
        assert parse_frame(bad) is None


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_parse_frame_never_raises(raw: str | bytes) -> None:
    frame = parse_frame(raw)
    assert frame is None or isinstance(frame["type"], str)


def test_backoff_grows_and_is_capped() -> None:
    client = NodeClient("https://x", Identity("none", ""), backoff=(0.5, 4.0))
    delays = [client._delay(n) for n in range(8)]
    assert 0.4 <= delays[0] <= 0.6 and all(d <= 4.8 for d in delays) and delays[5] >= 3.2
