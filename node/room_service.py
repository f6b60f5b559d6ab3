"""The live room service: lobbies, who is connected to which room, and the media rooms behind them.

Store access goes through ``node.rooms`` on the store thread; lobbies are ``node.rooms.Lobby``
objects in memory; media goes through one ``media.sfu.Room`` per open room, made when its first
participant sends an offer and closed when the last one leaves. Signalling is this module's job:
the SFU's renegotiation offers are sent to the participant's socket as ``room.offer``.

Every change to who is in a room or waiting at it is followed by a ``room.roster`` to everyone in
the room and in its lobby, so nobody listens unseen. The in-room text chat is never stored.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from crypto import invites
from media import Glare
from crypto.tokens import new_token, token_digest
from node import rooms
from node.clock import Clock
from node.rooms import Lobby, Participant, RoomError, RoomListing, RoomRegistry
from node.store import Connection, Store
from node.ws import Peer

log = logging.getLogger("fristed.rooms")
SECRET_KEY = "invite_secret"
TEXT_MAX = 1000
REASON_MAX = 200
HOST_ROLES = frozenset({"staff", "admin"})  # may also manage rooms other staff created
RESUME_GRACE = 10 * 60  # a resume token works this long after its holder left or dropped
# A participant whose socket drops while their media is connected keeps their place, their media
# and their name on everyone's roster (marked away) this long: a phone that changes network comes
# back with room.resume {keep: true} and restarts ICE on the same peer connection, and the others
# see no one leave and come back. After it, they leave as before (the token still works).
SEAT_HOLD = 30.0
DEVICETEST_SECONDS = 120.0  # a device test's loopback room is torn down after this long
DEVICETEST_PID = "self"     # the pid (msid stream id) the looped-back tracks carry
# A room's offer to one participant grows by about 1.3 KB for every track that ever came and went,
# unless the client joined with `recycle` (media.sfu reuses m-lines that went inactive). Past this
# size the node asks the client to rejoin with a fresh peer connection (its resume token, same
# place) instead, well before the 96 Ki-character limit on the client's answer (node.room_ws.SDP_MAX).
REJOIN_SDP = 64 * 1024


# ------------------------------------------------------------------------------------------ store

def invite_secret(conn: Connection) -> bytes:
    """The node's 256-bit invite signing secret, made at first start and kept in ``settings``."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (SECRET_KEY,)).fetchone()
    if row is not None:
        secret = bytes.fromhex(row[0])
        if len(secret) >= invites.SECRET_BYTES:
            return secret
    secret = invites.new_secret()
    conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (SECRET_KEY, secret.hex()))
    return secret


# ------------------------------------------------------------------------------------------ media

class MediaRoom(Protocol):
    """What this service needs from ``media.sfu.Room`` (its documented interface)."""

    async def join(self, pid: str, offer_sdp: str, recycle: bool = False) -> str: ...
    async def answer(self, pid: str, answer_sdp: str) -> None: ...
    def pending_offer(self, pid: str) -> str | None: ...
    async def restart_ice(self, pid: str, offer_sdp: str) -> str: ...
    async def leave(self, pid: str) -> None: ...
    async def close(self) -> None: ...


OfferSink = Callable[[str, str], Any]
MediaFactory = Callable[..., MediaRoom]  # (room, on_offer, **media options) -> MediaRoom
IceFor = Callable[[Peer], list[dict[str, Any]]]


@dataclass(frozen=True)
class MediaOptions:
    """Network options for every forwarding unit (``fristed serve --media-ports/--public-address``)."""

    port_range: tuple[int, int] | None = None  # UDP ports for the node's host candidates
    public_address: str | None = None  # also advertised, same ports (1:1 port forwarding)

    def kwargs(self) -> dict[str, Any]:
        """Only the options that are set, so factories without them keep working."""
        return {k: v for k, v in (("port_range", self.port_range), ("public_address", self.public_address))
                if v is not None}

    @classmethod
    def from_config(cls, config: Any) -> MediaOptions:
        return cls(getattr(config, "media_ports", None), getattr(config, "public_address", None))


def sfu_room(room: rooms.Room, on_offer: OfferSink, **options: Any) -> MediaRoom:
    """The forwarding unit for one room; the node's own side offers host candidates only."""
    from media.sfu import Room  # aiortc and PyAV load when a room first carries media, not at start

    return Room(ice_servers=[], on_offer=on_offer, max_video=room.max_video, **options)


DeviceTestFactory = Callable[..., MediaRoom]  # (on_offer, **media options) -> MediaRoom


def sfu_devicetest(on_offer: OfferSink, **options: Any) -> MediaRoom:
    """A throwaway one-person forwarding unit that sends the participant's media back to it."""
    from media.sfu import Room

    return Room(ice_servers=[], on_offer=on_offer, max_video=1, loopback=True, **options)


@dataclass(eq=False)
class DeviceTest:
    """One socket's device test: its loopback room and the timer that ends it."""

    media: MediaRoom | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class Member:
    """One socket's place in one room (admitted or waiting)."""

    peer: Peer
    room_id: str
    pid: str
    mic: bool = True
    media: str = "none"  # "none", "joining" (offer being answered) or "joined"
    resume: str = ""     # digest of the member's resume token
    hold: asyncio.Task[None] | None = None  # while the socket is gone and the seat is held (SEAT_HOLD)


@dataclass
class Pass:
    """What a resume token gives back after a dropped connection: the same place, a new pid."""

    room_id: str
    role: str            # "host" or "guest"
    name: str
    admitted: bool
    account_id: int | None
    pid: str             # the member it belongs to now
    until: float | None  # None while its member is present


def _room_info(room: rooms.Room) -> dict[str, Any]:
    return {"room": room.id, "kind": room.kind, "title": room.title}


def _reason(reason: str | None) -> str:
    return " ".join((reason or "").split())[:REASON_MAX]


class RoomService:
    """Plain class behind the room messages and routes; tests can drive it without HTTP."""

    def __init__(self, store: Store, clock: Clock, ice_for: IceFor, media_factory: MediaFactory = sfu_room,
                 devicetest_factory: DeviceTestFactory = sfu_devicetest,
                 media_options: MediaOptions | None = None) -> None:
        self.store, self.clock = store, clock
        self.media_options = media_options or MediaOptions()
        self.ice_for = ice_for
        self.media_factory = media_factory
        self.devicetest_factory = devicetest_factory
        self.devicetests: dict[Peer, DeviceTest] = {}
        self.registry = RoomRegistry(clock)
        self.members: dict[str, Member] = {}       # by participant id
        self.by_peer: dict[Peer, Member] = {}
        self.media: dict[str, MediaRoom] = {}      # by room id
        self.passes: dict[str, Pass] = {}          # by resume token digest
        self._secret: bytes | None = None

    async def load(self) -> None:
        """Read (or make) the invite secret at start."""
        self._secret = await self.store.write(invite_secret)

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            raise RuntimeError("RoomService.load() has not run")
        return self._secret

    # ---------------------------------------------------------------- staff (HTTP)

    async def create(self, account_id: int, kind: str, title: str) -> rooms.Room:
        return await self.store.write(rooms.create_room, kind, title, account_id, self.clock.now())

    async def listing(self) -> list[dict[str, Any]]:
        """Open rooms, newest first, with how many are in each and waiting (no names)."""
        found: list[RoomListing] = await self.store.read(rooms.list_rooms, self.clock.now())
        out = []
        for item in found:
            lobby = self._lobby(item.room.id)
            out.append({**item.to_json(), "in_room": len(lobby.admitted) if lobby else 0,
                        "waiting": len(lobby.waiting) if lobby else 0})
        return out

    async def _managed(self, room_id: str, account_id: int, role: str) -> rooms.Room:
        room = await self.store.read(rooms.require_room, room_id)
        if room.created_by != account_id and role not in HOST_ROLES:
            raise RoomError("forbidden", "only the person who made this room, staff or an administrator can do that")
        return room

    async def invite(self, room_id: str, account_id: int, role: str, *, invite_role: str, single_use: bool,
                     ttl: float, hint: str | None = None) -> tuple[str, float]:
        """A new link token for the room; returns (token, expires)."""
        await self._managed(room_id, account_id, role)
        token = await self.store.write(rooms.create_invite, self.secret, room_id, self.clock.now(),
                                       role=invite_role, ttl=ttl, single_use=single_use, hint=hint,
                                       created_by=account_id)
        return token, invites.verify(token, self.secret, self.clock.now()).expires

    async def close(self, room_id: str, account_id: int, role: str) -> rooms.Room:
        """Close the room for good: its links stop working and everyone in it is told."""
        await self._managed(room_id, account_id, role)
        room = await self.store.write(rooms.close_room, room_id, self.clock.now())
        await self._close_live(room_id, "the room has been closed")
        return room

    async def end(self, room_id: str, reason: str) -> None:
        """Close a room on the node's own behalf (an answered call ended); no permission check."""
        room = await self.store.read(rooms.get_room, room_id)
        if room is not None and not room.closed:
            await self.store.write(rooms.close_room, room_id, self.clock.now())
        await self._close_live(room_id, reason)
        self.passes = {d: p for d, p in self.passes.items() if p.room_id != room_id}

    def issue_pass(self, room: rooms.Room, name: str, ttl: float) -> str:
        """A one-time token that lets a guest straight into ``room`` with ``room.resume`` (an answered call).

        It is a resume pass with no member behind it yet, so the same ``room.resume`` path and its
        checks apply: one use, and it lapses after ``ttl`` seconds.
        """
        token = new_token()
        self.passes[token_digest(token)] = Pass(room.id, "guest", rooms.clean_name(name), True, None, "",
                                                self.clock.now() + ttl)
        return token

    # ---------------------------------------------------------------- entering

    async def knock(self, peer: Peer, *, invite: str | None, room_id: str | None, name: str | None,
                    camera: bool) -> None:
        """Knock with a link (guest → lobby, host link → in), or enter as the staff member who made the room."""
        if peer in self.by_peer:
            raise RoomError("already_in_room", "you are already in a room on this connection; leave it first")
        if (invite is None) == (room_id is None):
            raise RoomError("bad_room", "give either an invite or (staff) a room id")
        now = self.clock.now()
        if invite is not None:
            await self.store.read(rooms.check_invite, self.secret, invite, now)  # a used link says so, first
            self._check_not_full(invite, now)  # before a single-use link is spent
            redeemed = await self.store.write(rooms.redeem_invite, self.secret, invite, now)
            room, role = redeemed.room, redeemed.invite.role
            name = name or redeemed.invite.hint
        else:
            if peer.session is None:
                raise RoomError("forbidden", "open the room with your link")
            room = await self.store.read(rooms.require_room, room_id)
            if room.created_by != peer.account_id and peer.role not in HOST_ROLES:
                raise RoomError("forbidden", "this room was made by someone else; ask them for a host link")
            role, name = "host", name or peer.name
        if peer in self.by_peer or peer.ws.closed:  # the socket moved on while the store worked
            raise RoomError("already_in_room", "you are already in a room on this connection; leave it first")
        lobby = self.registry.open(room)
        if role == "host":
            person = lobby.join_host(name or "", account_id=peer.account_id, camera=camera)
        else:
            person = lobby.knock(name, camera=camera)
        await self._entered(peer, lobby, person, role)

    async def resume(self, peer: Peer, token: str, camera: bool, keep: bool = False) -> None:
        """Come back after a dropped connection with the token from ``room.lobby``/``room.enter``/``room.admitted``.

        With ``keep`` (the client still has its peer connection), a place whose media is still
        connected is taken back as it is: same pid, same media, ``"kept": true`` in the reply; the
        client then restarts ICE. Otherwise the place is entered afresh with a new pid."""
        if peer in self.by_peer:
            raise RoomError("already_in_room", "you are already in a room on this connection; leave it first")
        digest = token_digest(token)
        found = self.passes.get(digest)
        if found is None or (found.until is not None and found.until <= self.clock.now()):
            self.passes.pop(digest, None)
            raise RoomError("unknown_resume", "this place has lapsed; open your link again")
        stale = self.members.get(found.pid)
        if keep and stale is not None and stale.media == "joined" and stale.resume == digest:
            await self._take_back(peer, stale, found)
            return
        if stale is not None:  # the old socket has not been noticed gone yet
            stale.resume = ""
            await self._leave(stale)
        room = await self.store.read(rooms.require_room, found.room_id)
        if peer in self.by_peer or peer.ws.closed or self.passes.get(digest) is not found:
            raise RoomError("already_in_room", "you are already in a room on this connection; leave it first")
        lobby = self.registry.open(room)
        if found.role == "host":
            person = lobby.join_host(found.name, account_id=found.account_id, camera=camera)
        else:
            person = lobby.knock(found.name, camera=camera)
            if found.admitted:  # straight back in, as the host let them in before
                person.camera = camera and lobby.cameras < room.max_cameras
                person.state = "admitted"
        del self.passes[digest]
        await self._entered(peer, lobby, person, found.role)

    async def _take_back(self, peer: Peer, member: Member, found: Pass) -> None:
        """The same place, media and pid on a new socket (room.resume with keep)."""
        lobby = self._lobby(member.room_id)
        if lobby is None or member.pid not in lobby.people:
            raise RoomError("unknown_resume", "this place has lapsed; open your link again")
        if member.hold is not None:
            member.hold.cancel()
            member.hold = None
        old = member.peer
        if self.by_peer.get(old) is member:  # the old socket has not been noticed gone yet
            del self.by_peer[old]
        member.peer = peer
        self.by_peer[peer] = member
        del self.passes[member.resume]
        await self._welcome(peer, member, lobby, found.role, kept=True)
        media = self.media.get(member.room_id)
        offer = media.pending_offer(member.pid) if media is not None else None
        if offer is not None:  # sent while the socket was gone: the client answers it now
            await peer.send({"type": "room.offer", "sdp": offer})
        await self._roster_changed(lobby, skip=member)

    async def _entered(self, peer: Peer, lobby: Lobby, person: Participant, role: str) -> None:
        member = self._add(peer, lobby.room.id, person.id)
        await self._welcome(peer, member, lobby, role)
        if role != "host" and person.state != "admitted":
            await self._send(lobby.hosts, {"type": "room.knocking", "room": lobby.room.id, "pid": person.id,
                                           "name": person.name})
        await self._roster_changed(lobby, skip=member)

    async def _welcome(self, peer: Peer, member: Member, lobby: Lobby, role: str, kept: bool = False) -> None:
        """A new resume token for the member, and the reply that lets them in (or into the lobby)."""
        room, person = lobby.room, lobby.people[member.pid]
        token = new_token()
        member.resume = token_digest(token)
        self.passes[member.resume] = Pass(room.id, role, person.name, person.state == "admitted",
                                          peer.account_id, person.id, None)
        again = {"kept": True} if kept else {}
        if role == "host":
            await peer.reply({"type": "room.enter", "pid": person.id, "role": "host", "room": _room_info(room),
                              "roster": self.roster(lobby), "iceServers": self.ice_for(peer), "resume": token,
                              **again})
        elif person.state == "admitted":
            await peer.reply({"type": "room.admitted", "pid": person.id, "role": person.role,
                              "room": _room_info(room), "camera": person.camera, "roster": self.roster(lobby),
                              "iceServers": self.ice_for(peer), "resume": token, **again})
        else:
            await peer.reply({"type": "room.lobby", "pid": person.id, "room": _room_info(room),
                              "roster": self.roster(lobby), "resume": token})

    def _check_not_full(self, invite: str, now: float) -> None:
        try:
            room_id = invites.verify(invite, self.secret, now).room
        except invites.InviteError:
            return  # redeem_invite gives the reason
        lobby = self._lobby(room_id)
        if lobby is not None and len(lobby.admitted) >= lobby.room.max_participants:
            raise RoomError("room_full", f"too many participants: this room holds {lobby.room.max_participants} "
                                         "people and is full")

    def _add(self, peer: Peer, room_id: str, pid: str) -> Member:
        member = Member(peer, room_id, pid)
        self.members[pid] = member
        self.by_peer[peer] = member
        return member

    # ---------------------------------------------------------------- host decisions

    async def admit(self, peer: Peer, pid: str) -> None:
        member, lobby = self._mine(peer)
        person = lobby.admit(member.pid, pid)
        guest = self.members.get(person.id)
        if guest is not None and guest.resume in self.passes:
            self.passes[guest.resume].admitted = True
        if guest is not None:
            await guest.peer.send({"type": "room.admitted", "pid": person.id, "role": person.role,
                                   "room": _room_info(lobby.room), "camera": person.camera,
                                   "roster": self.roster(lobby), "iceServers": self.ice_for(guest.peer)})
        await peer.reply({"type": "room.ok", "action": "admit", "pid": pid})
        await self._roster_changed(lobby, skip=guest)

    async def decline(self, peer: Peer, pid: str, reason: str | None) -> None:
        member, lobby = self._mine(peer)
        notice = lobby.decline(member.pid, pid, _reason(reason))
        await self._drop(pid, {"type": "room.declined", "reason": notice.reason})
        await peer.reply({"type": "room.ok", "action": "decline", "pid": pid})
        await self._roster_changed(lobby)

    async def remove(self, peer: Peer, pid: str, reason: str | None) -> None:
        member, lobby = self._mine(peer)
        notice = lobby.remove(member.pid, pid, _reason(reason))
        await self._drop(pid, {"type": "room.removed", "reason": notice.reason})
        await peer.reply({"type": "room.ok", "action": "remove", "pid": pid})
        await self._roster_changed(lobby)
        await self._forget_if_empty(lobby.room.id)

    # ---------------------------------------------------------------- media signalling

    async def offer(self, peer: Peer, sdp: str, recycle: bool = False) -> None:
        """The client's offer: the first one joins the room's media (`recycle`: the client takes
        another publisher's track on an m-line that went inactive, media.sfu), a later one restarts
        ICE (after a network change); the answer goes back as ``room.answer``."""
        member, lobby = self._mine(peer)
        if lobby.people[member.pid].state != "admitted":
            raise RoomError("not_admitted", "wait until the host lets you in")
        if member.media == "joined":
            await self._restart_ice(peer, member, sdp)
            return
        if member.media != "none":
            raise RoomError("bad_state", "your media is still being connected; wait for the answer")
        room_id = member.room_id
        media = self.media.get(room_id)
        if media is None:
            media = self.media[room_id] = self.media_factory(lobby.room, self._offer_sink(room_id),
                                                                   **self.media_options.kwargs())
        member.media = "joining"
        try:
            answer = await media.join(member.pid, sdp, recycle=recycle)
        except ValueError as exc:
            member.media = "none"
            raise RoomError("bad_sdp", f"the node cannot use this offer: {str(exc)[:200]}") from None
        except Exception:
            member.media = "none"
            log.exception("media join failed", extra={"event": "room_error"})
            raise RoomError("media_failed", "the node could not connect your media; try again, or use the text chat")
        if self.members.get(member.pid) is not member:  # left while the offer was answered
            await self._media_leave(room_id, member.pid)
            return
        member.media = "joined"
        await peer.reply({"type": "room.answer", "sdp": answer})

    async def _restart_ice(self, peer: Peer, member: Member, sdp: str) -> None:
        media = self.media.get(member.room_id)
        if media is None:
            raise RoomError("bad_state", "your media is not connected; send room.offer to join it")
        try:
            answer = await media.restart_ice(member.pid, sdp)
        except Glare as exc:
            raise RoomError("glare", f"{exc}; answer the room's offer first") from None
        except ValueError as exc:
            raise RoomError("bad_sdp", f"the node cannot restart with this offer: {str(exc)[:200]}") from None
        except KeyError:
            raise RoomError("bad_state", "your media is not connected; send room.offer to join it") from None
        await peer.reply({"type": "room.answer", "sdp": answer})

    async def answer(self, peer: Peer, sdp: str) -> None:
        """The client's answer to a ``room.offer`` the room sent it."""
        member, _ = self._mine(peer)
        media = self.media.get(member.room_id)
        if member.media != "joined" or media is None:
            raise RoomError("bad_state", "there is no offer to answer; send room.offer first")
        try:
            await media.answer(member.pid, sdp)
        except ValueError as exc:
            raise RoomError("bad_sdp", f"the node cannot use this answer: {str(exc)[:200]}") from None
        except Exception as exc:  # aiortc raises several kinds on a malformed description
            raise RoomError("bad_sdp", f"the node cannot use this answer: {str(exc)[:200]}") from None

    def _offer_sink(self, room_id: str) -> OfferSink:
        async def on_offer(pid: str, sdp: str) -> None:
            member = self.members.get(pid)
            if member is None or member.room_id != room_id:
                return
            if len(sdp) > REJOIN_SDP:  # grown past it (a client without recycle, or many at once): start afresh
                await member.peer.send({"type": "room.rejoin", "reason": "the session has grown too large"})
                return
            await member.peer.send({"type": "room.offer", "sdp": sdp})  # lost while away: resent on take-back
        return on_offer

    # ---------------------------------------------------------------- device test (loopback)

    async def devicetest_offer(self, peer: Peer, sdp: str) -> None:
        """Anyone: a loopback room of one; the answer goes back as ``devicetest.answer``.

        The room then sends ``devicetest.offer`` with the client's own tracks, to be answered with
        ``devicetest.answer``. A new offer replaces a running test; it ends on ``devicetest.stop``,
        on disconnect, or after DEVICETEST_SECONDS (``devicetest.ended``).
        """
        await self._devicetest_end(peer)
        test = DeviceTest()

        async def on_offer(pid: str, offer_sdp: str) -> None:
            if self.devicetests.get(peer) is test:
                await peer.send({"type": "devicetest.offer", "sdp": offer_sdp})

        test.media = self.devicetest_factory(on_offer, **self.media_options.kwargs())
        self.devicetests[peer] = test
        try:
            answer = await test.media.join(DEVICETEST_PID, sdp)
        except ValueError as exc:
            await self._devicetest_end(peer)
            raise RoomError("bad_sdp", f"the node cannot use this offer: {str(exc)[:200]}") from None
        except Exception:
            await self._devicetest_end(peer)
            log.exception("device test join failed", extra={"event": "room_error"})
            raise RoomError("media_failed", "the node could not connect your media for the test")
        if self.devicetests.get(peer) is not test:  # stopped or disconnected meanwhile
            return
        test.timer = asyncio.get_event_loop().call_later(
            DEVICETEST_SECONDS, lambda: asyncio.ensure_future(self._devicetest_end(peer, test, "time")))
        await peer.reply({"type": "devicetest.answer", "sdp": answer})

    async def devicetest_answer(self, peer: Peer, sdp: str) -> None:
        """The client's answer to a ``devicetest.offer``."""
        test = self.devicetests.get(peer)
        if test is None or test.media is None:
            raise RoomError("bad_state", "there is no device test; send devicetest.offer first")
        try:
            await test.media.answer(DEVICETEST_PID, sdp)
        except Exception as exc:  # ValueError and aiortc's own kinds on a malformed description
            raise RoomError("bad_sdp", f"the node cannot use this answer: {str(exc)[:200]}") from None

    async def devicetest_stop(self, peer: Peer) -> None:
        await self._devicetest_end(peer)
        await peer.reply({"type": "devicetest.ended", "reason": "stopped"})

    async def _devicetest_end(self, peer: Peer, only: DeviceTest | None = None, reason: str | None = None) -> None:
        test = self.devicetests.get(peer)
        if test is None or (only is not None and test is not only):
            return
        del self.devicetests[peer]
        if test.timer is not None:
            test.timer.cancel()
        if test.media is not None:
            try:
                await test.media.close()
            except Exception:
                log.exception("device test close failed", extra={"event": "room_error"})
        if reason is not None:
            await peer.send({"type": "devicetest.ended", "reason": reason})

    # ---------------------------------------------------------------- participant controls

    async def set_media(self, peer: Peer, camera: bool, mic: bool) -> None:
        """Camera off, mute, audio only: announced in the roster (the client stops its own tracks)."""
        member, lobby = self._mine(peer)
        lobby.set_camera(member.pid, camera)
        member.mic = mic
        await peer.reply({"type": "room.ok", "action": "media", "camera": camera, "mic": mic})
        await self._roster_changed(lobby)

    async def text(self, peer: Peer, text: str) -> None:
        """Text chat inside the room, to everyone admitted; not stored anywhere."""
        member, lobby = self._mine(peer)
        person = lobby.people[member.pid]
        if person.state != "admitted":
            raise RoomError("not_admitted", "you can write in the room once you are let in")
        text = text.strip()
        if not text:
            raise RoomError("bad_text", "write something first")
        frame = {"type": "room.text", "from": person.id, "name": person.name, "text": text[:TEXT_MAX],
                 "ts": self.clock.now()}
        await self._send(lobby.admitted, frame)

    async def leave(self, peer: Peer) -> None:
        member = self.by_peer.get(peer)
        if member is None:
            raise RoomError("not_in_room", "you are not in a room")
        await self._leave(member)
        await peer.reply({"type": "room.left"})

    async def disconnected(self, peer: Peer) -> None:
        """A dropped socket: a participant whose media is connected keeps their seat for SEAT_HOLD
        seconds (marked away on the roster); anyone else leaves at once."""
        await self._devicetest_end(peer)
        member = self.by_peer.pop(peer, None)
        if member is None:
            return
        if member.media != "joined" or SEAT_HOLD <= 0:
            await self._leave(member)
            return
        member.hold = asyncio.ensure_future(self._hold(member))
        lobby = self._lobby(member.room_id)
        if lobby is not None:
            await self._roster_changed(lobby, skip=member)

    async def _hold(self, member: Member) -> None:
        await asyncio.sleep(SEAT_HOLD)
        member.hold = None
        if self.members.get(member.pid) is member:
            log.info("a held seat lapsed", extra={"event": "room_seat_lapsed", "room": member.room_id})
            await self._leave(member)

    async def _leave(self, member: Member) -> None:
        lobby = self._lobby(member.room_id)
        if lobby is not None:
            lobby.leave(member.pid)
        await self._drop(member.pid, None)
        if lobby is not None:
            await self._roster_changed(lobby)
            await self._forget_if_empty(member.room_id)

    # ---------------------------------------------------------------- shutdown

    async def shutdown(self) -> None:
        """Close every media room (the sockets are closed by the WebSocket layer)."""
        for member in self.members.values():
            if member.hold is not None:  # held seats end with the node
                member.hold.cancel()
                member.hold = None
        for peer in list(self.devicetests):
            await self._devicetest_end(peer)
        for room_id in list(self.media):
            await self._close_media(room_id)

    # ---------------------------------------------------------------- helpers

    def roster(self, lobby: Lobby) -> dict[str, Any]:
        """The lobby's roster with each person's microphone state added."""
        roster = lobby.roster()
        for key in ("participants", "waiting"):
            for entry in roster[key]:
                member = self.members.get(entry["id"])
                entry["mic"] = member.mic if member is not None else True
                entry["away"] = member is not None and member.hold is not None  # seat held after a drop
        return roster

    def _lobby(self, room_id: str) -> Lobby | None:
        return self.registry.get(room_id) if room_id in self.registry else None

    def _mine(self, peer: Peer) -> tuple[Member, Lobby]:
        member = self.by_peer.get(peer)
        lobby = self._lobby(member.room_id) if member is not None else None
        if member is None or lobby is None or member.pid not in lobby.people:
            raise RoomError("not_in_room", "you are not in a room; knock first")
        return member, lobby

    async def _send(self, people: list[Participant], frame: dict[str, Any]) -> None:
        for person in people:
            member = self.members.get(person.id)
            if member is not None:
                await member.peer.send(frame)

    async def _roster_changed(self, lobby: Lobby, skip: Member | None = None) -> None:
        frame = {"type": "room.roster", **self.roster(lobby)}
        await self._send([p for p in lobby.people.values() if skip is None or p.id != skip.pid], frame)

    async def _drop(self, pid: str, notice: dict[str, Any] | None) -> None:
        """Forget a member (already out of the lobby), close their media leg, tell them why."""
        member = self.members.pop(pid, None)
        if member is None:
            return
        if member.hold is not None and member.hold is not asyncio.current_task():
            member.hold.cancel()
        member.hold = None
        if self.by_peer.get(member.peer) is member:
            del self.by_peer[member.peer]
        held = self.passes.get(member.resume)
        if held is not None and held.pid == pid:
            if notice is None:  # left or dropped: the token brings them back for a while
                held.until = self.clock.now() + RESUME_GRACE
            else:  # declined, removed or closed: no way back with it
                del self.passes[member.resume]
        self._expire_passes()
        if member.media == "joined":
            await self._media_leave(member.room_id, pid)
        if notice is not None:
            await member.peer.send(notice)

    def _expire_passes(self) -> None:
        now = self.clock.now()
        for digest in [d for d, p in self.passes.items() if p.until is not None and p.until <= now]:
            del self.passes[digest]

    async def _media_leave(self, room_id: str, pid: str) -> None:
        media = self.media.get(room_id)
        if media is None:
            return
        try:
            await media.leave(pid)
        except Exception:
            log.exception("media leave failed", extra={"event": "room_error"})

    async def _forget_if_empty(self, room_id: str) -> None:
        if self.registry.drop_if_empty(room_id):
            await self._close_media(room_id)

    async def _close_media(self, room_id: str) -> None:
        media = self.media.pop(room_id, None)
        if media is not None:
            try:
                await media.close()
            except Exception:
                log.exception("media close failed", extra={"event": "room_error"})

    async def _close_live(self, room_id: str, reason: str) -> None:
        await self._close_media(room_id)  # first, so nobody is sent a renegotiation on the way out
        for person in self.registry.close(room_id):
            await self._drop(person.id, {"type": "room.closed", "reason": reason})


async def purge_loop(store: Store, clock: Clock, every: float = 3600.0) -> None:
    """Delete expired links and long-closed rooms, hourly."""
    while True:
        try:
            await store.write(rooms.purge, clock.now())
        except Exception:
            log.exception("room purge failed", extra={"event": "room_error"})
        await asyncio.sleep(every)
