"""The node starts for real: /healthz, headers, TLS from its own CA, /ca.crt."""
from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from node import __version__
from node.clock import ManualClock
from node.server import RunningNode, start
from tests.conftest import base_url, make_config, trust_only_ca


async def test_healthz_reports_status_version_uptime_and_store(node: RunningNode, http: aiohttp.ClientSession,
                                                               clock: ManualClock) -> None:
    clock.advance(12.5)
    async with http.get("/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body == {"status": "ok", "version": __version__, "uptime_s": 12.5, "store": True}


@pytest.mark.parametrize("path", ["/", "/healthz", "/no/such/page", "/static/../store.key"])
async def test_security_headers_on_every_response(http: aiohttp.ClientSession, path: str) -> None:
    async with http.get(path) as resp:
        csp = resp.headers["Content-Security-Policy"]
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "http:" not in csp and "https:" not in csp and "*" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_static_traversal_cannot_reach_data_dir(http: aiohttp.ClientSession) -> None:
    for path in ("/static/../../store.key", "/static/%2e%2e/%2e%2e/store.key"):
        async with http.get(path) as resp:
            assert resp.status in (403, 404)
            assert "custody" not in await resp.text()


async def test_tls_client_trusting_only_ca_crt_verifies_node(node: RunningNode, tmp_path: Path) -> None:
    # fetch /ca.crt without trust, as a device would on first contact, then pin it
    async with aiohttp.ClientSession() as anon:
        async with anon.get(f"{base_url(node)}/ca.crt", ssl=False) as resp:
            assert resp.status == 200
            pem = await resp.read()
    ca_file = tmp_path / "downloaded-ca.crt"
    ca_file.write_bytes(pem)
    trusting = ssl.create_default_context(cafile=str(ca_file))
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{base_url(node)}/healthz", ssl=trusting) as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with client.get(f"{base_url(node)}/healthz", ssl=ssl.create_default_context()):
                pass


async def test_plain_http_mode_has_no_hsts(tmp_path: Path, clock: ManualClock) -> None:
    node = await start(make_config(tmp_path / "d", http=True), clock=clock)
    try:
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{node.port}/healthz") as resp:
                assert resp.status == 200
                assert "Strict-Transport-Security" not in resp.headers
                assert "Content-Security-Policy" in resp.headers
            async with client.get(f"http://127.0.0.1:{node.port}/ca.crt") as resp:
                assert resp.status == 404
    finally:
        await node.stop()


async def test_external_certificate_is_served_with_its_own_fingerprint(tmp_path: Path, clock: ManualClock,
                                                                       node: RunningNode) -> None:
    # reuse the first node's leaf as "a certificate from elsewhere" for a second node
    tls = node.ctx.tls
    assert tls is not None
    other = await start(make_config(tmp_path / "other", cert=tls.cert, key=tls.key), clock=clock)
    try:
        assert other.ctx.tls is not None and other.ctx.tls.ca_cert is None
        assert other.ctx.tls.fingerprint != tls.fingerprint  # leaf, not CA
        async with aiohttp.ClientSession() as client:
            async with client.get(f"https://localhost:{other.port}/healthz", ssl=trust_only_ca(node)) as resp:
                assert resp.status == 200
        assert not (tmp_path / "other" / "tls").exists()
    finally:
        await other.stop()


async def test_data_dir_is_private(node: RunningNode) -> None:
    root = node.ctx.config.data_dir
    assert root.stat().st_mode & 0o777 == 0o700
    assert (root / "store.key").stat().st_mode & 0o777 == 0o600
    assert (root / "tls" / "ca.key").stat().st_mode & 0o777 == 0o600


async def test_second_node_on_same_data_dir_is_refused(node: RunningNode, clock: ManualClock) -> None:
    from node.datadir import DataDirError

    with pytest.raises(DataDirError, match="in use"):
        await start(make_config(node.ctx.config.data_dir), clock=clock)
