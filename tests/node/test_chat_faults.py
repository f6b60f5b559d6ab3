"""Fault tests on a real `fristed serve` process: SIGKILL mid-conversation loses no acknowledged message."""
from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from crypto import totp
from tests.chatclient import WsClient, citizen, staff

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "node", "--data-dir", str(data), "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--no-zeroconf"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "is running" in line:
            return proc
        if not line:
            break
    proc.kill()
    raise AssertionError("node did not start")


async def enrol_over_http(http: aiohttp.ClientSession, data: Path, name: str) -> str:
    """Add with the CLI, enrol through the API, log in; returns a bearer token (real clock)."""
    out = subprocess.run([sys.executable, "-m", "node", "--data-dir", str(data), "staff", "add", name, "--role",
                          "staff"], capture_output=True, text=True, check=True).stdout
    code = out.split("enrol#code=")[1].split()[0]
    async with http.post("/api/enrol/start", json={"code": code}) as resp:
        secret_b32 = (await resp.json())["secret"]
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    now = time.time()
    async with http.post("/api/enrol/finish", json={"code": code, "password": "en lang og god adgangskode",
                                                    "totp": totp.code_at(secret, now)}) as resp:
        assert resp.status == 200, await resp.text()
    # the next time step is inside the accepted window and has not been used
    async with http.post("/api/login", json={"name": name, "password": "en lang og god adgangskode",
                                             "totp": totp.code_at(secret, now + 30)}) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["token"])


async def test_sigkill_mid_conversation_loses_no_acknowledged_message(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    proc = serve(data, port)
    ca = ssl.create_default_context(cafile=str(data / "tls" / "ca.crt"))
    base = f"https://localhost:{port}"
    try:
        async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(ssl=ca),
                                         cookie_jar=aiohttp.DummyCookieJar()) as http:
            token = await enrol_over_http(http, data, "Nanna")
            desk = await staff(http, token)
            await desk.send(type="duty.set", on=True)
            await desk.expect("duty", on=True)
            person = await citizen(http, port)
            started = await person.request("chat.start", "chat.started", danger=False)
            cid = started["conversation"]
            await desk.request("chat.take", "chat.opened", conversation=cid)
            acked: list[str] = []
            for i in range(10):
                ack = await person.request("chat.send", "chat.ack", text=f"borger {i}", client_id=f"c{i}")
                acked.append(ack["message"]["text"])
                ack = await desk.request("chat.send", "chat.ack", conversation=cid, text=f"personale {i}",
                                         client_id=f"s{i}")
                acked.append(ack["message"]["text"])
            # a burst in flight when the node dies: some may be acknowledged, some not
            for i in range(10, 30):
                await person.send(type="chat.send", text=f"borger {i}", client_id=f"c{i}")
            await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            await asyncio.sleep(0.2)
            acked += [f["message"]["text"] for f in person.seen("chat.ack")[10:]]
            await person.close()
            await desk.close()

            proc = serve(data, port)
            person = await citizen(http, port)
            resumed = await person.request("chat.resume", "chat.resumed", resume=started["resume"])
            assert resumed["state"] == "active" and resumed["staff"] == "Nanna"
            texts = [m["text"] for m in resumed["messages"]]
            missing = [t for t in acked if t not in texts]
            assert not missing, f"acknowledged but lost: {missing}"
            # the page resends what was never acknowledged, by client_id: nothing is doubled
            for i in range(10, 30):
                await person.request("chat.send", "chat.ack", text=f"borger {i}", client_id=f"c{i}")
            desk = await staff(http, token)  # the session survived the crash
            mine = await desk.expect("mine")
            assert [c["conversation"] for c in mine["conversations"]] == [cid]
            opened = await desk.request("chat.open", "chat.opened", conversation=cid)
            texts = [m["text"] for m in opened["messages"]]
            assert len(texts) == len(set(texts)) == 40
            await desk.request("chat.send", "chat.ack", conversation=cid, text="Jeg er her stadig", client_id="s-x")
            assert (await person.expect("chat.message"))["message"]["text"] == "Jeg er her stadig"
            await person.close()
            await desk.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


async def test_node_survives_a_flood_of_garbage_frames(tmp_path: Path) -> None:
    """Many connections sending garbage at once: each gets errors or a close; the node keeps serving."""
    data, port = tmp_path / "data", free_port()
    proc = serve(data, port)
    ca = ssl.create_default_context(cafile=str(data / "tls" / "ca.crt"))
    try:
        async with aiohttp.ClientSession(f"https://localhost:{port}", connector=aiohttp.TCPConnector(ssl=ca),
                                         cookie_jar=aiohttp.DummyCookieJar()) as http:
            async def abuse(n: int) -> int | None:
                client: WsClient = await citizen(http, port)
                for i in range(200):
                    if client.ws.closed:
                        break
                    try:
                        await client.ws.send_str(["{", "[]", '{"type":"x"}', '{"type":"chat.send"}', "\x00" * 50][i % 5])
                    except ConnectionError:
                        break
                await asyncio.sleep(0.5)
                return client.ws.close_code
            codes = await asyncio.gather(*(abuse(n) for n in range(10)))
            assert all(code == 1008 for code in codes), codes
            async with http.get("/healthz") as resp:
                assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert os.path.exists(data / "store.key")
