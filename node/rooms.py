"""Video rooms: rooms and invites in the store, and each open room's lobby in memory.

Store functions take an open connection and run inside the caller's transaction on the store
thread, like ``node.conversations``; that is what makes :func:`redeem_invite` atomic (exactly one
redeem of a single-use link wins, and the conditional ``UPDATE`` keeps that true even for a second
connection such as the CLI's).

Room kinds and limits:

- **support** — a private 1:1 room for a worker and a citizen: 2 participants, both on camera.
- **group** — courses, coffee, singing. By default 20 participants, of whom at most 10 have their
  camera on; the rest take part as listeners (they hear everything, can speak and can write, and
  appear in the participant list like anyone else). The media path forwards every microphone and
  the video of the ``max_video`` (default 6) most recent speakers. A centre may set up to
  :data:`GROUP_MAX_PARTICIPANTS`. The default comes from the forwarding cost measured for issue 4
  (about 14 µs per forwarded packet, on the development machine, not a Pi). At worst 20 open
  microphones at 50 packets/s heard by 19 others and 6 cameras at about 60 packets/s seen by 19
  others make some 26,000 packets a second, about 0.36 of a core there. ``bench/sfu.py`` on a Pi 5
  should confirm it before the ceiling is raised.

Nobody listens unseen: everyone who is in a room or waiting to get in appears in the one roster
that everyone, lobby waiters included, is shown (:meth:`Lobby.roster`). Hosts (staff, or someone
holding a host invite) let people in, turn them away and remove them; anyone can leave at once.

Joining a room reads no stored conversation data, so it writes no audit entries. Creating a room
is not audited either: ``node.audit.ACTIONS`` has no room action yet.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crypto import invites
from crypto.invites import InviteError
from crypto.tokens import new_token, token_digest
from node.clock import Clock
from node.conversations import pseudonym
from node.protocol import ProtocolRefusal
from node.store import Connection

KINDS = ("support", "group")
SUPPORT_PARTICIPANTS = 2
GROUP_PARTICIPANTS = 20          # default size of a group room, listeners included
GROUP_MAX_PARTICIPANTS = 30      # the most a centre can set
MAX_CAMERAS = 10                 # people with their camera on at once
MAX_VIDEO = 6                    # video streams forwarded at once (the most recent speakers)
TITLE_MAX = 80
NAME_MAX = 40
INVITE_TTL = 24 * 3600           # default life of a guest link
INVITE_TTL_MAX = 30 * 24 * 3600  # a fixed-time conversation can be booked a month ahead
HOST_INVITE_TTL_MAX = 3600       # host links (a console's QR code for a tablet) die quickly
_TITLE_FORBIDDEN = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


class RoomError(ProtocolRefusal):
    """A room request cannot be carried out; ``code`` and ``reason`` go back to the sender.

    Codes: ``unknown_room``, ``invite_expired``, ``invite_used``, ``invite_invalid``, ``room_full``,
    ``not_host``, ``declined``, ``removed``, ``unknown_participant``, ``forbidden``, ``bad_room``,
    ``bad_name``.
    """


# ------------------------------------------------------------------------------------------ store

@dataclass(frozen=True)
class Room:
    """One row of ``rooms``."""

    id: str
    kind: str
    title: str
    created_by: int | None
    created: float
    max_video: int
    max_cameras: int
    max_participants: int
    closed: bool
    closed_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {"room": self.id, "kind": self.kind, "title": self.title, "created": self.created,
                "max_video": self.max_video, "max_cameras": self.max_cameras,
                "max_participants": self.max_participants, "closed": self.closed}


@dataclass(frozen=True)
class RoomListing:
    """A room as the staff page lists it, with how many of its links still work."""

    room: Room
    live_invites: int

    def to_json(self) -> dict[str, Any]:
        return {**self.room.to_json(), "live_invites": self.live_invites}


@dataclass(frozen=True)
class Redeemed:
    """A redeemed invite: the room it opens and what the token said."""

    room: Room
    invite: invites.Invite


_COLUMNS = "id, kind, title, created_by, created, max_video, max_cameras, max_participants, closed, closed_at"


def _row(row: tuple[Any, ...] | None) -> Room | None:
    if row is None:
        return None
    values = list(row)
    values[8] = bool(values[8])
    return Room(*values)


def check_title(title: object) -> str:
    """A room title: 1–80 characters on one line."""
    if not isinstance(title, str) or not 0 < len(" ".join(title.split())) <= TITLE_MAX \
            or _TITLE_FORBIDDEN.search(title):
        raise RoomError("bad_room", f"a room title has 1-{TITLE_MAX} characters on one line")
    return " ".join(title.split())


def room_limits(kind: str, participants: int | None, cameras: int | None, video: int | None) -> tuple[int, int, int]:
    """(max_video, max_cameras, max_participants) for a new room, or :class:`RoomError`."""
    if kind == "support":
        if any(v not in (None, SUPPORT_PARTICIPANTS) for v in (participants, cameras, video)):
            raise RoomError("bad_room", "a support room is for two people; make a group room for more")
        return SUPPORT_PARTICIPANTS, SUPPORT_PARTICIPANTS, SUPPORT_PARTICIPANTS
    participants = GROUP_PARTICIPANTS if participants is None else participants
    if not isinstance(participants, int) or not 2 <= participants <= GROUP_MAX_PARTICIPANTS:
        raise RoomError("bad_room", f"a group room has 2-{GROUP_MAX_PARTICIPANTS} participants")
    top = min(MAX_CAMERAS, participants)
    cameras = top if cameras is None else cameras
    if not isinstance(cameras, int) or not 1 <= cameras <= top:
        raise RoomError("bad_room", f"this room can have 1-{top} cameras on at once")
    video = min(MAX_VIDEO, cameras) if video is None else video
    if not isinstance(video, int) or not 1 <= video <= cameras:
        raise RoomError("bad_room", f"this room can show 1-{cameras} videos at once")
    return video, cameras, participants


def create_room(conn: Connection, kind: str, title: str, created_by: int | None, now: float, *,
                max_participants: int | None = None, max_cameras: int | None = None,
                max_video: int | None = None) -> Room:
    """Create a room; limits default by kind (see the module docstring)."""
    if kind not in KINDS:
        raise RoomError("bad_room", "a room is a support room or a group room")
    clean = check_title(title)
    video, cameras, participants = room_limits(kind, max_participants, max_cameras, max_video)
    room_id = new_token(16)
    conn.execute("INSERT INTO rooms (id, kind, title, created_by, created, max_video, max_cameras, max_participants) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (room_id, kind, clean, created_by, now, video, cameras, participants))
    room = get_room(conn, room_id)
    assert room is not None
    return room


def get_room(conn: Connection, room_id: str) -> Room | None:
    return _row(conn.execute(f"SELECT {_COLUMNS} FROM rooms WHERE id = ?", (room_id,)).fetchone())


def require_room(conn: Connection, room_id: str) -> Room:
    """An open room, or ``unknown_room``."""
    room = get_room(conn, room_id)
    if room is None or room.closed:
        raise RoomError("unknown_room", "this room does not exist or has been closed")
    return room


def list_rooms(conn: Connection, now: float, *, include_closed: bool = False) -> list[RoomListing]:
    """Rooms for the staff page, newest first, each with its count of unused, unexpired links."""
    rows = conn.execute(
        f"SELECT {', '.join('r.' + c.strip() for c in _COLUMNS.split(','))}, "
        "(SELECT count(*) FROM invites i WHERE i.room_id = r.id AND i.expires > ? "
        " AND (i.single_use = 0 OR i.used_at IS NULL)) "
        "FROM rooms r WHERE r.closed = 0 OR ? ORDER BY r.created DESC, r.id", (now, int(include_closed))).fetchall()
    return [RoomListing(room, int(row[-1])) for row in rows if (room := _row(row[:-1])) is not None]


def close_room(conn: Connection, room_id: str, now: float) -> Room:
    """Close a room for good; every link to it stops working at once."""
    require_room(conn, room_id)
    conn.execute("UPDATE rooms SET closed = 1, closed_at = ? WHERE id = ?", (now, room_id))
    conn.execute("DELETE FROM invites WHERE room_id = ?", (room_id,))
    room = get_room(conn, room_id)
    assert room is not None
    return room


def create_invite(conn: Connection, secret: bytes, room_id: str, now: float, *, role: str = "guest",
                  ttl: float = INVITE_TTL, single_use: bool = True, hint: str | None = None,
                  created_by: int | None = None) -> str:
    """Issue a signed link token for an open room; only its token id's digest is stored."""
    require_room(conn, room_id)
    if role not in invites.ROLES:
        raise RoomError("bad_room", "an invite is for a guest or a host")
    limit = HOST_INVITE_TTL_MAX if role == "host" else INVITE_TTL_MAX
    if not 0 < ttl <= limit:
        raise RoomError("bad_room", f"a {role} link lives from 1 second to {int(limit // 3600)} hours")
    if role == "host" and not single_use:
        raise RoomError("bad_room", "a host link can be used once only")
    try:
        token, invite = invites.issue(secret, room_id, now=now, ttl=ttl, role=role, hint=hint)
    except ValueError as exc:
        raise RoomError("bad_room", str(exc)) from exc
    conn.execute("INSERT INTO invites (digest, room_id, role, single_use, expires, created, created_by) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (token_digest(invite.token_id), room_id, role, int(single_use), invite.expires, now, created_by))
    return token


def check_invite(conn: Connection, secret: bytes, token: object, now: float, *,
                 room_id: str | None = None) -> Redeemed:
    """Check a link token without spending it: the reasons :func:`redeem_invite` would refuse it."""
    try:
        invite = invites.verify(token, secret, now)  # type: ignore[arg-type]
    except InviteError as exc:
        if exc.kind == "expired":
            raise RoomError("invite_expired", "this link has expired; ask for a new one") from exc
        raise RoomError("invite_invalid", f"this link does not work: {exc.reason}") from exc
    if room_id is not None and room_id != invite.room:
        raise RoomError("invite_invalid", "this link belongs to another room")
    digest = token_digest(invite.token_id)
    row = conn.execute("SELECT room_id, role, single_use, expires, used_at FROM invites WHERE digest = ?",
                       (digest,)).fetchone()
    if row is None or row[0] != invite.room or row[1] != invite.role:
        room = get_room(conn, invite.room)
        if room is None or room.closed:
            raise RoomError("unknown_room", "this room does not exist or has been closed")
        raise RoomError("invite_invalid", "this link has been withdrawn")
    room = require_room(conn, invite.room)
    if row[3] <= now:
        raise RoomError("invite_expired", "this link has expired; ask for a new one")
    if row[2] and row[4] is not None:
        raise RoomError("invite_used", "this link has been used already; ask for a new one")
    return Redeemed(room, invite)


def redeem_invite(conn: Connection, secret: bytes, token: object, now: float, *,
                  room_id: str | None = None) -> Redeemed:
    """Check a link token and spend it; a single-use token is spent by exactly one caller.

    ``room_id`` is the room the link's path names, if any; it must be the token's own room.
    """
    checked = check_invite(conn, secret, token, now, room_id=room_id)
    digest = token_digest(checked.invite.token_id)
    cur = conn.execute("UPDATE invites SET used_at = coalesce(used_at, ?), uses = uses + 1 "
                       "WHERE digest = ? AND (single_use = 0 OR used_at IS NULL)", (now, digest))
    if cur.rowcount != 1:
        raise RoomError("invite_used", "this link has been used already; ask for a new one")
    return checked


def purge(conn: Connection, now: float, closed_for: float = 30 * 24 * 3600) -> int:
    """Delete expired links, and rooms closed for longer than ``closed_for``; returns rooms deleted."""
    conn.execute("DELETE FROM invites WHERE expires <= ?", (now,))
    cur = conn.execute("DELETE FROM rooms WHERE closed = 1 AND closed_at <= ?", (now - closed_for,))
    return cur.rowcount


# ------------------------------------------------------------------------------------------ lobby

def clean_name(name: str | None) -> str:
    """A display name as given (letters, digits, spaces, dots, dashes), or a friendly pseudonym."""
    if name is None or not " ".join(name.split()):
        return pseudonym()
    name = " ".join(name.split())
    if len(name) > NAME_MAX or not all(ch.isalnum() or ch in " .-'" for ch in name):
        raise RoomError("bad_name", f"a name may hold letters, digits, spaces, dots and dashes (max {NAME_MAX})")
    return name


@dataclass
class Participant:
    """Someone in a room or knocking at it. The node maps its connection to ``id``."""

    id: str
    name: str
    role: str        # "host" or "guest"
    state: str       # "waiting" or "admitted"
    camera: bool
    since: float
    account_id: int | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """What everyone in and around the room sees: never an account id or an address."""
        return {"id": self.id, "name": self.name, "role": self.role, "state": self.state, "camera": self.camera}


class Lobby:
    """Who is in one open room, who waits to get in, and who decides: plain, in memory, no I/O."""

    def __init__(self, room: Room, clock: Clock) -> None:
        self.room, self.clock = room, clock
        self.people: dict[str, Participant] = {}

    # ---------------------------------------------------------------- views

    @property
    def admitted(self) -> list[Participant]:
        return [p for p in self.people.values() if p.state == "admitted"]

    @property
    def waiting(self) -> list[Participant]:
        return [p for p in self.people.values() if p.state == "waiting"]

    @property
    def hosts(self) -> list[Participant]:
        return [p for p in self.admitted if p.role == "host"]

    @property
    def cameras(self) -> int:
        return sum(1 for p in self.admitted if p.camera)

    def get(self, participant_id: str) -> Participant:
        person = self.people.get(participant_id)
        if person is None:
            raise RoomError("unknown_participant", "that person is not in this room")
        return person

    def roster(self) -> dict[str, Any]:
        """The one participant list, the same for everyone in the room and in its lobby."""
        return {"room": self.room.id, "kind": self.room.kind, "title": self.room.title,
                "participants": [p.to_json() for p in self.admitted],
                "waiting": [p.to_json() for p in self.waiting],
                "host_present": bool(self.hosts),
                "limits": {"participants": self.room.max_participants, "cameras": self.room.max_cameras,
                           "video": self.room.max_video}}

    # ---------------------------------------------------------------- capacity

    def _check_room(self) -> None:
        if self.room.closed:
            raise RoomError("unknown_room", "this room has been closed")
        if len(self.admitted) >= self.room.max_participants:
            raise RoomError("room_full", f"too many participants: this room holds {self.room.max_participants} "
                                         "people and is full")

    def _camera_place(self, wanted: bool) -> bool:
        """Camera on if wanted and a place is free; otherwise the person joins as a listener."""
        return wanted and self.cameras < self.room.max_cameras

    # ---------------------------------------------------------------- entering

    def join_host(self, name: str, *, account_id: int | None = None, camera: bool = True) -> Participant:
        """A host (staff, or a host link) enters directly."""
        self._check_room()
        person = Participant(new_token(9), clean_name(name), "host", "admitted", self._camera_place(camera),
                             self.clock.now(), account_id)
        self.people[person.id] = person
        return person

    def knock(self, name: str | None = None, *, camera: bool = True) -> Participant:
        """A guest asks to come in and waits for a host."""
        self._check_room()
        if len(self.waiting) >= self.room.max_participants:
            raise RoomError("room_full", "too many people are waiting to get in; try again in a moment")
        person = Participant(new_token(9), clean_name(name), "guest", "waiting", camera, self.clock.now())
        self.people[person.id] = person
        return person

    # ---------------------------------------------------------------- host decisions

    def _host(self, by: str) -> Participant:
        host = self.people.get(by)
        if host is None or host.role != "host" or host.state != "admitted":
            raise RoomError("not_host", "only the host can do that")
        return host

    def _waiting(self, participant_id: str) -> Participant:
        person = self.get(participant_id)
        if person.state != "waiting":
            raise RoomError("unknown_participant", "that person is not waiting to get in")
        return person

    def admit(self, by: str, participant_id: str) -> Participant:
        """Let a waiting guest in; with every camera place taken they come in as a listener."""
        self._host(by)
        person = self._waiting(participant_id)
        self._check_room()
        person.camera = self._camera_place(person.camera)
        person.state, person.since = "admitted", self.clock.now()
        return person

    def decline(self, by: str, participant_id: str, reason: str = "") -> RoomError:
        """Turn a waiting guest away; returns the refusal the node sends them."""
        self._host(by)
        person = self._waiting(participant_id)
        del self.people[person.id]
        return RoomError("declined", reason.strip()[:200] or "the host cannot let you in right now")

    def remove(self, by: str, participant_id: str, reason: str = "") -> RoomError:
        """Send a guest out of the room or the lobby; returns the notice the node sends them."""
        self._host(by)
        person = self.get(participant_id)
        if person.role == "host":
            raise RoomError("forbidden", "a host cannot be removed; they can leave")
        del self.people[person.id]
        return RoomError("removed", reason.strip()[:200] or "the host has asked you to leave the room")

    # ---------------------------------------------------------------- participant controls

    def leave(self, participant_id: str) -> Participant | None:
        """Leave at once, from the room or the lobby; never refused."""
        return self.people.pop(participant_id, None)

    def set_camera(self, participant_id: str, on: bool) -> Participant:
        """Camera off is always allowed; camera on needs a free camera place."""
        person = self.get(participant_id)
        if on and not person.camera and person.state == "admitted" and not self._camera_place(True):
            raise RoomError("room_full", f"all {self.room.max_cameras} camera places are taken; "
                                         "you can still listen, talk and write")
        person.camera = on
        return person

    def close(self) -> list[Participant]:
        """Everyone out (the room was closed); returns who was there."""
        gone = list(self.people.values())
        self.people.clear()
        return gone


class RoomRegistry:
    """The lobbies of the rooms that are open on this node right now."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lobbies: dict[str, Lobby] = {}

    def open(self, room: Room) -> Lobby:
        """The room's lobby, made on first use."""
        if room.closed:
            raise RoomError("unknown_room", "this room has been closed")
        lobby = self._lobbies.get(room.id)
        if lobby is None:
            lobby = self._lobbies[room.id] = Lobby(room, self.clock)
        return lobby

    def get(self, room_id: str) -> Lobby:
        lobby = self._lobbies.get(room_id)
        if lobby is None:
            raise RoomError("unknown_room", "this room does not exist or has been closed")
        return lobby

    def close(self, room_id: str) -> list[Participant]:
        """Forget a room's lobby and return everyone who was in it or waiting."""
        lobby = self._lobbies.pop(room_id, None)
        return lobby.close() if lobby is not None else []

    def drop_if_empty(self, room_id: str) -> bool:
        """Forget a lobby nobody is in any more; True when it was dropped."""
        lobby = self._lobbies.get(room_id)
        if lobby is not None and not lobby.people:
            del self._lobbies[room_id]
            return True
        return False

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._lobbies

    def __len__(self) -> int:
        return len(self._lobbies)
