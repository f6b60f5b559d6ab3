"""Rooms and invites in a real SQLCipher store, and the in-memory lobby: knock, admit, decline, remove."""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import invites
from node import accounts, rooms
from node.clock import ManualClock
from node.migrations import LATEST
from node.protocol import ProtocolRefusal
from node.rooms import Lobby, RoomError, RoomRegistry
from node.store import Connection, Store, connect, migrate, schema_version, transaction

SECRET = invites.new_secret()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "store-1.db", os.urandom(32))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    c = connect(tmp_path_factory.mktemp("rooms") / "sync.db", os.urandom(32), create=True)
    migrate(c)
    yield c
    c.close()


async def staff_id(store: Store, clock: ManualClock, name: str = "Anna") -> int:
    await store.write(accounts.add, name, "staff", clock.now())
    account = await store.read(accounts.find, name)
    assert account is not None
    return account.id


def refused(code: str) -> pytest.RaisesExc[RoomError]:
    return pytest.raises(RoomError, check=lambda e: e.code == code)


# --- store ------------------------------------------------------------------------------------

async def test_migration_3_adds_rooms_and_invites(store: Store) -> None:
    assert await store.read(schema_version) == LATEST >= 3
    tables = await store.read(lambda c: {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")})
    assert {"rooms", "invites", "conversations", "accounts"} <= tables


async def test_create_rooms_with_limits_by_kind(store: Store, clock: ManualClock) -> None:
    anna = await staff_id(store, clock)
    support = await store.write(rooms.create_room, "support", "  Samtale   torsdag ", anna, clock.now())
    assert (support.kind, support.title, support.created_by, support.closed) == ("support", "Samtale torsdag", anna,
                                                                                 False)
    assert (support.max_participants, support.max_cameras, support.max_video) == (2, 2, 2)
    group = await store.write(rooms.create_room, "group", "Kaffeklub", anna, clock.now())
    assert (group.max_participants, group.max_cameras, group.max_video) == (20, 10, 6)
    small = await store.write(rooms.create_room, "group", "Sang", anna, clock.now(), max_participants=4)
    assert (small.max_participants, small.max_cameras, small.max_video) == (4, 4, 4)
    assert await store.read(rooms.get_room, group.id) == group
    assert len(group.id) >= 22 and group.id != support.id
    for kind, title, kw in [("party", "x", {}), ("group", "", {}), ("group", "x" * 81, {}),
                            ("group", "a\nb", {}), ("group", "\x00", {}),
                            ("group", "x", {"max_participants": 31}), ("group", "x", {"max_participants": 1}),
                            ("group", "x", {"max_cameras": 11}), ("group", "x", {"max_video": 11}),
                            ("group", "x", {"max_participants": 4, "max_cameras": 5}),
                            ("group", "x", {"max_cameras": 3, "max_video": 4}),
                            ("support", "x", {"max_participants": 3})]:
        with refused("bad_room"):
            await store.write(rooms.create_room, kind, title, anna, clock.now(), **kw)
    count = await store.read(lambda c: c.execute("SELECT count(*) FROM rooms").fetchone()[0])
    assert count == 3  # refused requests changed nothing


async def test_invite_round_trip_stores_only_a_digest(store: Store, clock: ManualClock) -> None:
    anna = await staff_id(store, clock)
    room = await store.write(rooms.create_room, "support", "Mette", anna, clock.now())
    token = await store.write(rooms.create_invite, SECRET, room.id, clock.now(), hint="Mette", created_by=anna)
    redeemed = await store.write(rooms.redeem_invite, SECRET, token, clock.now(), room_id=room.id)
    assert redeemed.room == room and redeemed.invite.role == "guest" and redeemed.invite.hint == "Mette"
    dump = await store.read(lambda c: repr(c.execute("SELECT * FROM invites").fetchall()))
    assert token not in dump and redeemed.invite.token_id not in dump
    assert invites.verify(token, SECRET, clock.now()).token_id not in dump
    row = await store.read(lambda c: c.execute("SELECT role, single_use, used_at, uses FROM invites").fetchone())
    assert row == ("guest", 1, clock.now(), 1)


async def test_expired_tampered_withdrawn_and_foreign_links_are_refused(store: Store, clock: ManualClock) -> None:
    room = await store.write(rooms.create_room, "group", "Kursus", None, clock.now())
    other = await store.write(rooms.create_room, "group", "Andet", None, clock.now())
    token = await store.write(rooms.create_invite, SECRET, room.id, clock.now(), ttl=600)
    with refused("invite_invalid"):
        await store.write(rooms.redeem_invite, SECRET, token[:-2] + ("AA" if token[-2:] != "AA" else "BA"),
                          clock.now())
    with refused("invite_invalid"):
        await store.write(rooms.redeem_invite, invites.new_secret(), token, clock.now())
    with refused("invite_invalid"):
        await store.write(rooms.redeem_invite, SECRET, token, clock.now(), room_id=other.id)
    for junk in ("", "x" * 600, None, 7, "f9.a.b"):
        with refused("invite_invalid"):
            await store.write(rooms.redeem_invite, SECRET, junk, clock.now())
    # a token signed with the node's secret but never stored (or withdrawn) does not open the room
    stray, _ = invites.issue(SECRET, room.id, now=clock.now(), ttl=600)
    with refused("invite_invalid"):
        await store.write(rooms.redeem_invite, SECRET, stray, clock.now())
    clock.advance(600)
    with refused("invite_expired"):
        await store.write(rooms.redeem_invite, SECRET, token, clock.now())
    uses = await store.read(lambda c: c.execute("SELECT sum(uses) FROM invites").fetchone()[0])
    assert uses == 0  # no refused attempt spent the link


async def test_closed_room_kills_its_links(store: Store, clock: ManualClock) -> None:
    room = await store.write(rooms.create_room, "group", "Kursus", None, clock.now())
    token = await store.write(rooms.create_invite, SECRET, room.id, clock.now(), single_use=False)
    await store.write(rooms.redeem_invite, SECRET, token, clock.now())
    closed = await store.write(rooms.close_room, room.id, clock.now())
    assert closed.closed and closed.closed_at == clock.now()
    with refused("unknown_room"):
        await store.write(rooms.redeem_invite, SECRET, token, clock.now())
    with refused("unknown_room"):
        await store.write(rooms.create_invite, SECRET, room.id, clock.now())
    with refused("unknown_room"):
        await store.read(rooms.require_room, "no-such-room")


async def test_invite_lifetimes_and_roles(store: Store, clock: ManualClock) -> None:
    room = await store.write(rooms.create_room, "group", "Kursus", None, clock.now())
    for kw in ({"ttl": 0}, {"ttl": rooms.INVITE_TTL_MAX + 1}, {"role": "admin"},
               {"role": "host", "ttl": rooms.HOST_INVITE_TTL_MAX + 1}, {"role": "host", "single_use": False},
               {"hint": "x" * 41}):
        with refused("bad_room"):
            await store.write(rooms.create_invite, SECRET, room.id, clock.now(), **kw)  # type: ignore[arg-type]
    host = await store.write(rooms.create_invite, SECRET, room.id, clock.now(), role="host", ttl=300)
    assert (await store.write(rooms.redeem_invite, SECRET, host, clock.now())).invite.role == "host"


async def test_multi_use_link_counts_uses(store: Store, clock: ManualClock) -> None:
    room = await store.write(rooms.create_room, "group", "Kaffe", None, clock.now())
    token = await store.write(rooms.create_invite, SECRET, room.id, clock.now(), single_use=False)
    for _ in range(3):
        clock.advance(1)
        await store.write(rooms.redeem_invite, SECRET, token, clock.now())
    row = await store.read(lambda c: c.execute("SELECT used_at, uses FROM invites").fetchone())
    assert row == (clock.now() - 2, 3)  # first use kept


async def test_single_use_link_is_redeemed_exactly_once_under_a_race(store: Store, clock: ManualClock) -> None:
    room = await store.write(rooms.create_room, "support", "Samtale", None, clock.now())
    for _ in range(5):
        token = await store.write(rooms.create_invite, SECRET, room.id, clock.now())
        results = await asyncio.gather(*[store.write(rooms.redeem_invite, SECRET, token, clock.now())
                                         for _ in range(8)], return_exceptions=True)
        wins = [r for r in results if isinstance(r, rooms.Redeemed)]
        losses = [r for r in results if isinstance(r, RoomError)]
        assert len(wins) == 1 and len(losses) == 7
        assert {e.code for e in losses} == {"invite_used"}


async def test_single_use_holds_across_two_connections(tmp_path: Path, clock: ManualClock) -> None:
    """The node's store and a second connection (like the CLI's) racing on one database file."""
    key = os.urandom(32)
    first = await Store.open(tmp_path / "store-1.db", key)
    second = await Store.open(tmp_path / "store-1.db", key)
    try:
        room = await first.write(rooms.create_room, "support", "Samtale", None, clock.now())
        for _ in range(5):
            token = await first.write(rooms.create_invite, SECRET, room.id, clock.now())
            results = await asyncio.gather(*[s.write(rooms.redeem_invite, SECRET, token, clock.now())
                                             for s in (first, second) * 3], return_exceptions=True)
            assert sum(isinstance(r, rooms.Redeemed) for r in results) == 1
            assert all(r.code == "invite_used" for r in results if not isinstance(r, rooms.Redeemed))
    finally:
        await second.close()
        await first.close()


async def test_list_rooms_for_staff(store: Store, clock: ManualClock) -> None:
    anna = await staff_id(store, clock)
    a = await store.write(rooms.create_room, "group", "Kursus", anna, clock.now())
    clock.advance(1)
    b = await store.write(rooms.create_room, "support", "Samtale", anna, clock.now())
    used = await store.write(rooms.create_invite, SECRET, a.id, clock.now())
    await store.write(rooms.create_invite, SECRET, a.id, clock.now())
    await store.write(rooms.create_invite, SECRET, a.id, clock.now(), ttl=10)
    await store.write(rooms.redeem_invite, SECRET, used, clock.now())
    listing = await store.read(rooms.list_rooms, clock.now())
    assert [(r.room.id, r.live_invites) for r in listing] == [(b.id, 0), (a.id, 2)]
    clock.advance(11)
    assert [r.live_invites for r in await store.read(rooms.list_rooms, clock.now())] == [0, 1]
    await store.write(rooms.close_room, b.id, clock.now())
    assert [r.room.id for r in await store.read(rooms.list_rooms, clock.now())] == [a.id]
    everything = await store.read(rooms.list_rooms, clock.now(), include_closed=True)
    assert [r.room.id for r in everything] == [b.id, a.id]
    assert everything[0].to_json()["closed"] is True and everything[1].to_json()["live_invites"] == 1


async def test_purge_removes_expired_links_and_old_closed_rooms(store: Store, clock: ManualClock) -> None:
    keep = await store.write(rooms.create_room, "group", "Kursus", None, clock.now())
    gone = await store.write(rooms.create_room, "support", "Mette", None, clock.now())
    await store.write(rooms.create_invite, SECRET, keep.id, clock.now(), ttl=60)
    live = await store.write(rooms.create_invite, SECRET, keep.id, clock.now(), ttl=86400)
    await store.write(rooms.close_room, gone.id, clock.now())
    clock.advance(120)
    assert await store.write(rooms.purge, clock.now(), closed_for=3600) == 0
    assert await store.read(lambda c: c.execute("SELECT count(*) FROM invites").fetchone()[0]) == 1
    clock.advance(3600)
    assert await store.write(rooms.purge, clock.now(), closed_for=3600) == 1
    assert await store.read(rooms.get_room, gone.id) is None
    assert (await store.write(rooms.redeem_invite, SECRET, live, clock.now())).room.id == keep.id


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=600) | st.binary(max_size=600) | st.none() | st.integers())
def test_any_token_gives_a_room_or_a_room_error(conn: Connection, token: object) -> None:
    try:
        transaction(conn, rooms.redeem_invite, SECRET, token, 1_800_000_000.0)
    except RoomError as err:
        assert err.code in {"invite_invalid", "invite_expired"} and err.reason


# --- lobby ------------------------------------------------------------------------------------

def make_room(kind: str = "group", clock: ManualClock | None = None, **limits: int) -> tuple[Lobby, rooms.Room]:
    """A room as the store makes it (built by hand; lobbies never touch the store)."""
    video, cameras, participants = rooms.room_limits(kind, limits.get("max_participants"), limits.get("max_cameras"),
                                                 limits.get("max_video"))
    room = rooms.Room(os.urandom(8).hex(), kind, "Rum", None, 0.0, video, cameras, participants, False, None)
    return Lobby(room, clock or ManualClock()), room


def test_knock_admit_and_everyone_sees_the_same_list() -> None:
    lobby, _ = make_room("support")
    worker = lobby.join_host("Anna", account_id=7)
    citizen = lobby.knock("Mette")
    assert citizen.state == "waiting" and citizen.role == "guest"
    roster = lobby.roster()
    assert [p["name"] for p in roster["participants"]] == ["Anna"]
    assert [p["name"] for p in roster["waiting"]] == ["Mette"]  # the waiter sees who is inside, and is seen
    assert roster["host_present"] is True and roster["limits"] == {"participants": 2, "cameras": 2, "video": 2}
    assert all(set(p) == {"id", "name", "role", "state", "camera"} for p in roster["participants"] + roster["waiting"])
    admitted = lobby.admit(worker.id, citizen.id)
    assert admitted.state == "admitted" and admitted.camera is True
    assert [p["name"] for p in lobby.roster()["participants"]] == ["Anna", "Mette"]
    assert lobby.roster()["waiting"] == []
    assert [h.name for h in lobby.hosts] == ["Anna"]


def test_only_a_host_admits_declines_or_removes() -> None:
    lobby, _ = make_room()
    host = lobby.join_host("Anna")
    guest = lobby.knock("Bo")
    lobby.admit(host.id, guest.id)
    waiter = lobby.knock("Carl")
    for act in (lambda: lobby.admit(guest.id, waiter.id), lambda: lobby.decline(guest.id, waiter.id),
                lambda: lobby.remove(guest.id, waiter.id), lambda: lobby.admit(waiter.id, waiter.id),
                lambda: lobby.admit("nobody", waiter.id)):
        with refused("not_host"):
            act()
    with refused("forbidden"):
        lobby.remove(host.id, host.id)
    with refused("unknown_participant"):
        lobby.admit(host.id, guest.id)  # already inside
    with refused("unknown_participant"):
        lobby.admit(host.id, "nobody")
    assert waiter.state == "waiting"


def test_decline_and_remove_give_the_person_a_reason() -> None:
    lobby, _ = make_room()
    host = lobby.join_host("Anna")
    waiter = lobby.knock("Bo")
    declined = lobby.decline(host.id, waiter.id, "Vi starter kl. 14")
    assert isinstance(declined, ProtocolRefusal) and declined.code == "declined"
    assert declined.reason == "Vi starter kl. 14"
    assert lobby.decline(host.id, lobby.knock().id).reason  # a plain default reason
    assert lobby.waiting == []
    guest = lobby.knock("Carl")
    lobby.admit(host.id, guest.id)
    removed = lobby.remove(host.id, guest.id)
    assert removed.code == "removed" and removed.reason
    assert [p.name for p in lobby.people.values()] == ["Anna"]
    late = lobby.knock("Dina")
    assert lobby.remove(host.id, late.id).code == "removed"  # from the lobby, too
    with refused("unknown_participant"):
        lobby.decline(host.id, guest.id)


def test_anyone_leaves_at_once() -> None:
    lobby, _ = make_room()
    host = lobby.join_host("Anna")
    guest = lobby.knock("Bo")
    waiter = lobby.knock("Carl")
    lobby.admit(host.id, guest.id)
    assert lobby.leave(waiter.id) is waiter and lobby.leave(guest.id) is guest
    assert lobby.leave(guest.id) is None  # twice is fine
    assert lobby.leave(host.id) is host
    assert lobby.roster()["host_present"] is False
    # with no host inside, people can still knock and wait
    assert lobby.knock("Eva").state == "waiting"


def test_support_room_is_full_at_two() -> None:
    lobby, _ = make_room("support")
    host = lobby.join_host("Anna")
    lobby.admit(host.id, lobby.knock("Mette").id)
    with refused("room_full") as err:
        lobby.knock("Ole")
    assert "too many participants" in err.value.reason
    with refused("room_full"):
        lobby.join_host("Bo")


def test_admit_checks_capacity_again() -> None:
    lobby, _ = make_room(max_participants=3)
    host = lobby.join_host("Anna")
    first, second, third = lobby.knock("A"), lobby.knock("B"), lobby.knock("C")
    lobby.admit(host.id, first.id)
    lobby.admit(host.id, second.id)
    with refused("room_full"):
        lobby.admit(host.id, third.id)
    assert third.state == "waiting"
    lobby.leave(first.id)
    assert lobby.admit(host.id, third.id).state == "admitted"


def test_waiting_list_is_bounded() -> None:
    lobby, _ = make_room(max_participants=3)
    for _ in range(3):
        lobby.knock()
    with refused("room_full"):
        lobby.knock()


def test_group_room_beyond_the_cameras_joins_as_listeners() -> None:
    lobby, room = make_room(max_participants=5, max_cameras=2, max_video=2)
    host = lobby.join_host("Anna")
    people = [lobby.knock(f"P{i}") for i in range(4)]
    for p in people:
        lobby.admit(host.id, p.id)
    assert [p.camera for p in lobby.admitted] == [True, True, False, False, False]
    assert lobby.cameras == room.max_cameras == 2
    listener = people[1]
    with refused("room_full") as err:
        lobby.set_camera(listener.id, True)
    assert "camera" in err.value.reason
    lobby.set_camera(people[0].id, False)  # camera off is always allowed
    assert lobby.set_camera(listener.id, True).camera is True
    with refused("room_full"):
        lobby.knock("late")
    # a listener is in the list like everyone else
    assert {p["name"] for p in lobby.roster()["participants"]} == {"Anna", "P0", "P1", "P2", "P3"}


def test_names_are_checked_or_invented() -> None:
    lobby, _ = make_room()
    anonymous = lobby.knock(None)
    assert anonymous.name and anonymous.name == " ".join(anonymous.name.split())
    assert lobby.knock("   ").name
    assert lobby.knock("  Søren  Ø. ").name == "Søren Ø."
    assert lobby.knock("a\nb").name == "a b"
    for bad in ("<script>", "x" * 41, "a\x00b", "\u202eevil"):
        with refused("bad_name"):
            lobby.knock(bad)


def test_registry_opens_gets_and_closes_lobbies() -> None:
    clock = ManualClock()
    registry = RoomRegistry(clock)
    _, room = make_room(clock=clock)
    with refused("unknown_room"):
        registry.get(room.id)
    lobby = registry.open(room)
    assert registry.open(room) is lobby and registry.get(room.id) is lobby and room.id in registry
    host = lobby.join_host("Anna")
    waiter = lobby.knock("Bo")
    assert registry.drop_if_empty(room.id) is False
    assert registry.close(room.id) == [host, waiter]
    assert len(registry) == 0 and registry.close(room.id) == []
    with refused("unknown_room"):
        registry.open(rooms.Room(**{**room.__dict__, "closed": True}))
    registry.open(room)
    assert registry.drop_if_empty(room.id) is True
