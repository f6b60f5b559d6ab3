"""The console's network client: pinned TLS, login, and a WebSocket that reconnects by itself.

How the node is trusted (pinning)
---------------------------------
The node's identity is its local CA (the ``fp`` in its zeroconf TXT and in ``fristed serve``'s
start-up lines), not a host name: consoles reach it by a ``.local`` name, by an address from
zeroconf, or through an SSH tunnel as ``localhost``. So the client:

1. *probes* the node once: a TLS handshake that verifies nothing, reading the leaf certificate,
   then ``GET /ca.crt``. If that CA signed the leaf, the identity is the CA and its fingerprint is
   compared with the pin (``tui.pinning``) and with the fingerprint zeroconf advertised.
   Nodes with a certificate from elsewhere (certbot) have no local CA: the leaf's fingerprint is
   the identity, as the node itself advertises it (``crypto.ca.external_tls``).
2. then makes every connection (login, API, WebSocket, every reconnect) with an ``SSLContext``
   that trusts *only* that CA certificate (full chain verification, expiry included; host-name
   checking is off because the pinned CA is the identity), or with ``aiohttp.Fingerprint`` on the
   leaf. A different node at the same address fails the handshake; the client then probes again
   and reports :class:`IdentityChanged` rather than retrying forever.

The probe's unverified connection carries nothing secret: only ``GET /ca.crt``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote, urlsplit

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto.ca import fingerprint_der

log = logging.getLogger("fristed.console")
MAX_CA_BYTES = 64 * 1024
MAX_FRAME = 1024 * 1024
SESSION_ENDED = 4001  # close code: logout, disabled account or expiry (docs/chat-protocol.md)


# ---------------------------------------------------------------- identity and TLS


@dataclass(frozen=True)
class Identity:
    """What the node proved in the probe. ``kind``: ``ca`` (local CA), ``leaf`` or ``none`` (plain HTTP)."""

    kind: str
    fingerprint: str
    ca_pem: bytes | None = None

    def ssl(self) -> ssl.SSLContext | aiohttp.Fingerprint | bool:
        """The ``ssl`` argument for aiohttp that accepts this node and nothing else."""
        if self.kind == "ca":
            assert self.ca_pem is not None
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.check_hostname = False  # the pinned CA is the identity, not the name we dialled
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=self.ca_pem.decode("ascii"))
            return ctx
        if self.kind == "leaf":
            return aiohttp.Fingerprint(bytes.fromhex(self.fingerprint.replace(":", "")))
        return False


class ProbeError(Exception):
    """The node could not be reached or did not speak TLS as expected."""


def _host_port(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError(f"'{url}' er ikke en adresse som https://navn:port")
    return parts.scheme, parts.hostname, parts.port or (80 if parts.scheme == "http" else 443)


def check_url(url: str) -> str:
    """Normalise a node URL; plain HTTP only to this machine (e.g. through an SSH tunnel)."""
    url = url.strip().rstrip("/")
    if "//" not in url:
        url = "https://" + url
    scheme, host, _ = _host_port(url)
    if scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
        raise ProbeError("Ukrypteret forbindelse (http) bruges kun til denne maskine. Brug https://.")
    return url


async def probe_identity(url: str, timeout: float = 10.0) -> Identity:
    """Read the node's certificate and local CA without trusting them yet."""
    scheme, host, port = _host_port(url)
    if scheme == "http":
        return Identity("none", "")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), timeout)
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
        raise ProbeError(f"Kan ikke nå {host}:{port} ({exc.__class__.__name__})") from exc
    try:
        sslobj = writer.get_extra_info("ssl_object")
        leaf_der = sslobj.getpeercert(binary_form=True) if sslobj else None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
    if not leaf_der:
        raise ProbeError("Noden viste intet certifikat")
    ca_pem = await _fetch_ca(url, timeout)
    if ca_pem is not None:
        try:
            ca = x509.load_pem_x509_certificate(ca_pem)
            x509.load_der_x509_certificate(leaf_der).verify_directly_issued_by(ca)
        except (ValueError, TypeError, x509.InvalidSignature):
            ca = None
        if ca is not None:
            return Identity("ca", fingerprint_der(ca.public_bytes(serialization.Encoding.DER)),
                            ca.public_bytes(serialization.Encoding.PEM))
    return Identity("leaf", fingerprint_der(leaf_der))


async def _fetch_ca(url: str, timeout: float) -> bytes | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url.rstrip("/") + "/ca.crt", ssl=False, allow_redirects=False) as resp:
                if resp.status != 200:
                    return None
                body = await resp.content.read(MAX_CA_BYTES + 1)
                return body if len(body) <= MAX_CA_BYTES else None
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return None


# ---------------------------------------------------------------- frames and events


def parse_frame(raw: str | bytes) -> dict[str, Any] | None:
    """A frame from the node: a JSON object with a string ``type``; anything else is dropped."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if len(raw) > MAX_FRAME:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    return data


@dataclass(frozen=True)
class Connected:
    """The WebSocket is up and the node said ``welcome``. ``down_since`` is set after a gap."""

    welcome: dict[str, Any]
    down_since: float | None
    at: float


@dataclass(frozen=True)
class Disconnected:
    at: float
    reason: str


@dataclass(frozen=True)
class FrameReceived:
    frame: dict[str, Any]


@dataclass(frozen=True)
class SessionEnded:
    """The node no longer accepts our token (expired, logged out, account disabled)."""

    reason: str


@dataclass(frozen=True)
class IdentityChanged:
    """The node at this address now shows a different certificate: stop, warn."""

    expected: str
    got: str


ClientEvent = Connected | Disconnected | FrameReceived | SessionEnded | IdentityChanged


class LoginError(Exception):
    def __init__(self, code: str, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.code, self.reason, self.retry_after = code, reason, retry_after


class ApiError(Exception):
    """An API call the node refused (``code`` from its JSON error) or that never arrived."""

    def __init__(self, code: str, reason: str = "", status: int = 0) -> None:
        super().__init__(reason or code)
        self.code, self.reason, self.status = code, reason, status


class NotConnected(Exception):
    """A frame could not be sent: the connection is down."""


# ---------------------------------------------------------------- the client


class NodeClient:
    """Login, small API calls and the WebSocket, all pinned to one node identity.

    ``run()`` keeps the WebSocket up until ``close()``: after a drop it retries with exponential
    backoff (``backoff`` = first and longest delay, ±20 % jitter) and reports the gap in
    :class:`Connected`. ``chat.send`` frames are held until the node acknowledges them and are sent
    again after a reconnect (the node drops duplicates by ``client_id``).
    """

    def __init__(self, url: str, identity: Identity, on_event: Callable[[ClientEvent], Any] | None = None,
                 *, backoff: tuple[float, float] = (0.5, 10.0), heartbeat: float = 15.0,
                 wallclock: Callable[[], float] = time.time) -> None:
        self.url = url.rstrip("/")
        self.identity = identity
        self.on_event = on_event or (lambda event: None)
        self.backoff = backoff
        self.heartbeat = heartbeat
        self.wallclock = wallclock
        self.token: str | None = None
        self.account: dict[str, Any] | None = None
        self.outbox: dict[str, dict[str, Any]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closing = asyncio.Event()
        self._ids = 0

    # -- HTTP

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.identity.ssl())
            self._session = aiohttp.ClientSession(connector=connector,
                                                  timeout=aiohttp.ClientTimeout(total=15))
        return self._session

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def login(self, name: str, password: str, totp: str) -> dict[str, Any]:
        """Password and TOTP in; keeps the bearer token in memory only."""
        try:
            async with self._http().post(self.url + "/api/login",
                                         json={"name": name, "password": password, "totp": totp}) as resp:
                body = await _json(resp)
                if resp.status == 200 and isinstance(body.get("token"), str):
                    self.token = body["token"]
                    self.account = body.get("account") if isinstance(body.get("account"), dict) else {}
                    return body
                raise LoginError(str(body.get("error", resp.status)), str(body.get("reason", "")),
                                 float(body.get("retry_after", 0) or 0))
        except (aiohttp.ServerFingerprintMismatch, aiohttp.ClientSSLError) as exc:
            raise LoginError("certificate", "the node's certificate is not the pinned one") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise LoginError("unreachable", f"{exc.__class__.__name__}") from exc

    async def get_json(self, path: str) -> dict[str, Any] | None:
        """GET an API path with the bearer token; None on any failure."""
        try:
            async with self._http().get(self.url + path, headers=self._auth()) as resp:
                if resp.status != 200:
                    return None
                return await _json(resp)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return None

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """An API call with the bearer token (no CSRF needed); raises :class:`ApiError` unless 2xx."""
        try:
            async with self._http().request(method, self.url + path, json=body, headers=self._auth()) as resp:
                data = await _json(resp)
                if 200 <= resp.status < 300:
                    return data
                raise ApiError(str(data.get("error", resp.status)), str(data.get("reason", "")), resp.status)
        except (aiohttp.ServerFingerprintMismatch, aiohttp.ClientSSLError) as exc:
            raise ApiError("certificate", "the node's certificate is not the pinned one") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ApiError("unreachable", exc.__class__.__name__) from exc

    # -- video rooms (docs/api.md section 8.1)

    async def create_room(self, kind: str, title: str) -> dict[str, Any]:
        """``POST /api/rooms``: a new ``support`` or ``group`` room; returns the room object."""
        return await self._call("POST", "/api/rooms", {"kind": kind, "title": title})

    async def list_rooms(self) -> list[dict[str, Any]]:
        """``GET /api/rooms``: the open rooms, newest first."""
        body = await self._call("GET", "/api/rooms")
        return [r for r in body.get("rooms", []) if isinstance(r, dict)]

    async def create_invite(self, room: str, *, role: str = "guest", single_use: bool = True,
                            ttl_minutes: int = 60, hint: str | None = None) -> dict[str, Any]:
        """``POST /api/rooms/{id}/invites``: ``{token, url, qr, role, single_use, expires}``."""
        body: dict[str, Any] = {"role": role, "single_use": single_use, "ttl_minutes": ttl_minutes}
        if hint:
            body["hint"] = hint
        return await self._call("POST", f"/api/rooms/{quote(room, safe='')}/invites", body)

    def room_url(self, room: str) -> str:
        """The page where staff who are logged in in the browser open the room as its host."""
        return f"{self.url}/room#room={room}"

    async def logout(self) -> None:
        if not self.token:
            return
        try:
            async with self._http().post(self.url + "/api/logout", headers=self._auth()) as resp:
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        self.token = None

    # -- WebSocket

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    def next_id(self, prefix: str = "c") -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one frame now, or raise :class:`NotConnected`."""
        ws = self._ws
        if ws is None or ws.closed:
            raise NotConnected()
        try:
            await ws.send_str(json.dumps(frame, ensure_ascii=False))
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            raise NotConnected() from exc

    async def send_message(self, conversation: str, text: str) -> str:
        """Queue a chat message until acknowledged; returns its ``client_id``. Never raises when offline."""
        client_id = uuid.uuid4().hex
        frame = {"type": "chat.send", "conversation": conversation, "text": text, "client_id": client_id,
                 "id": client_id}  # an error about it carries the same id
        self.outbox[client_id] = frame
        try:
            await self.send(frame)
        except NotConnected:
            pass  # sent again after the reconnect
        return client_id

    def acknowledged(self, client_id: str) -> None:
        self.outbox.pop(client_id, None)

    async def run(self) -> None:
        """Keep the WebSocket up until :meth:`close` or until the node refuses us for good."""
        attempt = 0
        down_since: float | None = None
        first = True
        while not self._closing.is_set():
            try:
                ws = await self._http().ws_connect(self.url + "/ws", headers=self._auth(),
                                                   heartbeat=self.heartbeat, max_msg_size=MAX_FRAME,
                                                   autoping=True)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    self.on_event(SessionEnded("Noden kender ikke længere dit login. Log ind igen."))
                    return
                reason = f"HTTP {exc.status}"
            except (aiohttp.ServerFingerprintMismatch, aiohttp.ClientConnectorCertificateError,
                    aiohttp.ClientSSLError) as exc:
                changed = await self._identity_changed()
                if changed is not None:
                    self.on_event(changed)
                    return
                reason = exc.__class__.__name__
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                reason = exc.__class__.__name__
            else:
                reason, welcomed = await self._serve(ws, down_since, first)
                if ws.close_code == SESSION_ENDED:
                    self.on_event(SessionEnded("Du er logget ud (sessionen er udløbet eller afsluttet). "
                                               "Log ind igen."))
                    return
                if welcomed:  # we were really up: a new gap starts now
                    attempt, first = 0, False
                    down_since = self.wallclock()
                    if not self._closing.is_set():
                        self.on_event(Disconnected(down_since, reason))
            if self._closing.is_set():
                return
            await self._sleep(self._delay(attempt))
            attempt += 1

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse, down_since: float | None,
                     first: bool) -> tuple[str, bool]:
        """Read frames until the socket closes; returns why, and whether the node said welcome."""
        self._ws = ws
        welcomed = False
        try:
            async for msg in ws:
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                frame = parse_frame(msg.data)
                if frame is None:
                    log.warning("dropped a frame that is not a JSON object with a type")
                    continue
                if not welcomed and frame["type"] == "welcome":
                    welcomed = True
                    self.on_event(Connected(frame, None if first else down_since, self.wallclock()))
                    for pending in list(self.outbox.values()):
                        try:
                            await self.send(pending)
                        except NotConnected:
                            break
                    continue
                if frame["type"] == "chat.ack" and isinstance(frame.get("client_id"), str):
                    self.acknowledged(frame["client_id"])
                elif frame["type"] == "error" and isinstance(frame.get("id"), str):
                    self.acknowledged(frame["id"])  # refused for good: do not send it again
                self.on_event(FrameReceived(frame))
        except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError) as exc:
            return exc.__class__.__name__, welcomed
        finally:
            self._ws = None
            if not ws.closed:
                await ws.close()
        return f"closed ({ws.close_code})", welcomed

    async def _identity_changed(self) -> IdentityChanged | None:
        try:
            now = await probe_identity(self.url)
        except ProbeError:
            return None
        if now.fingerprint != self.identity.fingerprint:
            return IdentityChanged(self.identity.fingerprint, now.fingerprint)
        return None

    def _delay(self, attempt: int) -> float:
        low, high = self.backoff
        return min(high, low * (2 ** attempt)) * random.uniform(0.8, 1.2)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def stop(self) -> None:
        """Stop the WebSocket and its reconnecting; HTTP (e.g. logout) still works."""
        self._closing.set()
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    async def close(self) -> None:
        await self.stop()
        if self._session is not None and not self._session.closed:
            await self._session.close()


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return data if isinstance(data, dict) else {}
