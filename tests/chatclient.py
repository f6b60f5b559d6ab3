"""A small WebSocket test client for the chat protocol (citizen or staff)."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import aiohttp

from tests.conftest import Staff, login


class WsClient:
    """Wraps a WebSocket; keeps every frame received so tests can wait for a type or assert absence."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._pending: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                self.frames.append(frame)
                self._pending.put_nowait(frame)

    async def send(self, **frame: Any) -> None:
        await self.ws.send_json(frame)

    async def expect(self, frame_type: str, /, timeout: float = 5.0,
                     where: Callable[[dict[str, Any]], bool] | None = None, **match: Any) -> dict[str, Any]:
        """The next frame of ``frame_type`` whose fields equal ``match`` (and satisfying ``where``)."""
        async def _wait() -> dict[str, Any]:
            while True:
                frame = await self._pending.get()
                if (frame.get("type") == frame_type and all(frame.get(k) == v for k, v in match.items())
                        and (where is None or where(frame))):
                    return frame
        return await asyncio.wait_for(_wait(), timeout)

    async def request(self, frame_type: str, reply: str, /, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Send a frame and wait for ``reply`` or an ``error``."""
        await self.send(type=frame_type, **fields)
        async def _wait() -> dict[str, Any]:
            while True:
                frame = await self._pending.get()
                if frame.get("type") in (reply, "error"):
                    return frame
        return await asyncio.wait_for(_wait(), timeout)

    def seen(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    async def settle(self, delay: float = 0.2) -> None:
        await asyncio.sleep(delay)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def citizen(http: aiohttp.ClientSession, port: int) -> WsClient:
    ws = await http.ws_connect("/ws", origin=f"https://localhost:{port}")
    client = WsClient(ws)
    await client.expect("welcome")
    return client


async def staff(http: aiohttp.ClientSession, token: str) -> WsClient:
    ws = await http.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"})
    client = WsClient(ws)
    await client.expect("welcome")
    return client


async def signed_in(http: aiohttp.ClientSession, person: Staff) -> WsClient:
    """``person``'s staff socket, with a bearer token from a fresh login (off duty)."""
    return await staff(http, str((await login(http, person))["token"]))
