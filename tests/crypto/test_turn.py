"""crypto.turn: coturn REST credentials, against hand-computed vectors and a real coturn on loopback."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from crypto.turn import MAX_TTL, new_tag, turn_credentials, turn_password
from node.doctor import check_turn
from tests.deploy.helpers import free_port


def test_hand_computed_vector() -> None:
    # printf '%s' '1800000600:leg1' | openssl dgst -sha1 -hmac 'fristed-turn-test-secret' -binary | base64
    creds = turn_credentials("fristed-turn-test-secret", 600, 1_800_000_000.9, "leg1",
                             urls=["turn:fristed.local:3478?transport=udp"])
    assert creds == {"urls": ["turn:fristed.local:3478?transport=udp"], "username": "1800000600:leg1",
                     "credential": "x5yHL4te2UbJOfZZcYhjhPGZOTU="}
    # bytes and text secrets give the same answer
    assert turn_credentials(b"fristed-turn-test-secret", 600, 1_800_000_000, "leg1") == {**creds, "urls": []}


def test_rfc2202_hmac_sha1_vector() -> None:
    # RFC 2202 test case 1: key 0x0b * 20, data "Hi There" -> b617318655057264e28bc0b6fb378c8ef146be00
    assert turn_password(b"\x0b" * 20, "Hi There") == "thcxhlUFcmTii8C2+zeMjvFGvgA="


def test_refuses_bad_arguments() -> None:
    for ttl in (0, -1, MAX_TTL + 1, 1.5, True):
        with pytest.raises(ValueError):
            turn_credentials("s", ttl, 0.0, "t")  # type: ignore[arg-type]
    for tag in ("", "a:b", "x" * 65, "Mette Hansen", "æ"):
        with pytest.raises(ValueError):
            turn_credentials("s", 60, 0.0, tag)
    for url in ("http://x", "turn:x y", "stun:x", "turn:x?transport=sctp"):
        with pytest.raises(ValueError):
            turn_credentials("s", 60, 0.0, "t", urls=[url])
    with pytest.raises(ValueError):
        turn_password(b"", "x")


def test_tags_are_random_and_valid() -> None:
    tags = {new_tag() for _ in range(100)}
    assert len(tags) == 100
    for tag in tags:
        turn_credentials("s", 60, 0.0, tag)


# --- a real coturn on loopback ----------------------------------------------------------------

@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """coturn on 127.0.0.1 with use-auth-secret and loopback peers allowed; yields (port, secret)."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.skip("coturn (turnserver) is not installed here")
    port = free_port()
    low = min(max(free_port(kind=2), 20000), 65000)  # SOCK_DGRAM
    secret = "turn-test-" + os.urandom(8).hex()
    proc = subprocess.Popen(
        [binary, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}", "--relay-ip=127.0.0.1",
         f"--min-port={low}", f"--max-port={low + 20}", "--realm=fristed.test", "--use-auth-secret",
         f"--static-auth-secret={secret}", "--no-cli", "--allow-loopback-peers", "--no-tls", "--no-dtls",
         "--no-tcp-relay", "--fingerprint", f"--pidfile={tmp_path / 'turn.pid'}",
         "--log-file=stdout", "--simple-log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while check_turn(f"127.0.0.1:{port}", timeouts=(0.2,)).status != "ok":
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"coturn did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        yield port, secret
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]


async def test_coturn_relays_with_fresh_credentials(coturn: tuple[int, str]) -> None:
    port, secret = coturn
    creds = turn_credentials(secret, 600, time.time(), new_tag(), urls=[f"turn:127.0.0.1:{port}?transport=udp"])
    loop = asyncio.get_running_loop()
    echo_transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    peer = echo_transport.get_extra_info("sockname")
    transport, client = await create_turn_endpoint(_Collect, ("127.0.0.1", port), str(creds["username"]),
                                                   str(creds["credential"]), lifetime=600)
    try:
        relayed = transport.get_extra_info("sockname")
        assert relayed[0] == "127.0.0.1" and relayed[1] != port
        transport.sendto(b"hej", peer)
        data, addr = await asyncio.wait_for(client.received.get(), 5)
        assert data == b"echo:hej" and tuple(addr) == tuple(peer)  # a round trip through the relay
    finally:
        transport.close()
        echo_transport.close()
        await asyncio.sleep(0.1)  # let the allocation be deleted


@pytest.mark.parametrize("case", ["expired", "wrong_secret"])
async def test_coturn_refuses_expired_or_foreign_credentials(coturn: tuple[int, str], case: str) -> None:
    port, secret = coturn
    if case == "expired":
        creds = turn_credentials(secret, 60, time.time() - 120, new_tag())  # expired a minute ago
    else:
        creds = turn_credentials(secret + "x", 600, time.time(), new_tag())
    with pytest.raises(stun.TransactionFailed) as failed:
        await create_turn_endpoint(_Collect, ("127.0.0.1", port), str(creds["username"]),
                                   str(creds["credential"]), lifetime=600)
    assert failed.value.response.error_code == 401
