"""The call service under races between sockets, state that must not be left behind, and access to
the room of a call that was handed on (test_calls.py has the ordinary flows)."""
from __future__ import annotations

import asyncio

import aiohttp

from node import conversations as conv_db
from node import rooms
from node.call_ws import CALLS
from node.chat_ws import CHAT
from node.clock import ManualClock
from node.conversations import ChatError
from node.server import RunningNode
from node.ws import Peer
from tests.chatclient import WsClient, citizen
from tests.node.test_calls import call, logged_in
from tests.node.test_chat import on_duty


def staff_peer(node: RunningNode, name: str) -> Peer:
    """The server-side Peer of ``name``'s (only) staff socket."""
    chat = node.runner.app[CHAT]
    account_id = next(a for a, n in chat.names.items() if n == name)
    return next(iter(chat.staff[account_id]))


async def conversation(node: RunningNode, cid: str) -> conv_db.Conversation:
    conv = await node.ctx.store.read(conv_db.get, cid)
    assert conv is not None
    return conv


async def room_of(node: RunningNode, room_id: str) -> rooms.Room:
    room = await node.ctx.store.read(rooms.get_room, room_id)
    assert room is not None
    return room


async def ringing_callback(node: RunningNode, anon: aiohttp.ClientSession, desk: WsClient, clock: ManualClock,
                           device: str = "here", media: str = "audio") -> tuple[WsClient, str]:
    """A citizen's call-back request that ``desk`` is ringing now: (the citizen's socket, the conversation)."""
    page = await citizen(anon, node.port)
    now = int(clock.now())
    started = await page.request("call.request", "call.started", media=media, danger=False,
                                 **{"from": now, "to": now + 3600})
    cid = str(started["conversation"])
    await desk.request("callback.start", "callback.ringing", conversation=cid, device=device)
    await page.expect("call.incoming")
    return page, cid


async def test_two_accepts_at_once_make_one_room(node: RunningNode, http: aiohttp.ClientSession,
                                                 anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """Exactly one of two simultaneous accepts wins, and the loser leaves no orphan support room."""
    await on_duty(node, http, clock, "Anna")
    await on_duty(node, http, clock, "Bo")
    _, started = await call(anon, node)
    cid = str(started["conversation"])
    calls = node.runner.app[CALLS]
    results = await asyncio.gather(calls.accept(staff_peer(node, "Anna"), cid, "here"),
                                   calls.accept(staff_peer(node, "Bo"), cid, "link"), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], ChatError) and errors[0].code == "already_taken"
    count = await node.ctx.store.read(lambda c: c.execute("SELECT count(*) FROM rooms").fetchone()[0])
    links = await node.ctx.store.read(lambda c: c.execute("SELECT count(*) FROM invites").fetchone()[0])
    assert (count, links) == (1, 0)


async def test_decline_racing_an_accept_does_not_end_the_answered_call(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """Anna accepts while Bo declines: exactly one wins, and a decline never ends an answered call."""
    await on_duty(node, http, clock, "Anna")
    await on_duty(node, http, clock, "Bo")
    _, started = await call(anon, node)
    cid = str(started["conversation"])
    calls = node.runner.app[CALLS]
    results = await asyncio.gather(calls.accept(staff_peer(node, "Anna"), cid, "here"),
                                   calls.decline(staff_peer(node, "Bo"), cid, "Vi kan ikke lige nu"),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1, f"both the accept and the decline went through: {results}"


async def test_hangup_racing_an_accept_closes_the_room(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """A hang-up that lands while the accept is being stored ends the call and closes its support room."""
    await on_duty(node, http, clock, "Anna")
    c, started = await call(anon, node)
    cid = str(started["conversation"])
    calls, chat = node.runner.app[CALLS], node.runner.app[CHAT]
    caller = chat.citizens[cid]

    async def hangup_a_moment_later() -> None:
        await node.ctx.store.read(lambda conn: None)  # the accept's read is ahead; its write goes first
        await calls.hangup(caller)

    await asyncio.gather(calls.accept(staff_peer(node, "Anna"), cid, "here"), hangup_a_moment_later(),
                         return_exceptions=True)
    conv = await conversation(node, cid)
    if conv.state == "ended" and conv.room_id is not None:
        assert (await room_of(node, conv.room_id)).closed, "the call ended but its support room is still open"
        await c.settle()
        connect = c.seen("call.connect")
        if connect:  # a pass to a call that has ended must not let anyone in
            late = await (await citizen(anon, node.port)).request("room.resume", "room.admitted",
                                                                 resume=connect[0]["pass"], camera=False)
            assert late["type"] == "error"


async def test_requeued_answered_call_does_not_ring_forever(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """An answered call cannot go back to the queue (it would ring again for a citizen who is in the room)."""
    anna = await on_duty(node, http, clock, "Anna")
    bo = await on_duty(node, http, clock, "Bo")
    _, started = await call(anon, node)
    cid = started["conversation"]
    accepted = await anna.request("call.accept", "call.accepted", conversation=cid, device="here")
    assert accepted["type"] == "call.accepted"
    moved = await anna.request("chat.transfer", "chat.closed", conversation=cid, note="")
    if moved["type"] == "error":
        return  # refusing to requeue an answered call is a fine answer
    clock.advance(200)  # longer than the lost-caller grace
    await node.runner.app[CALLS].tick()
    conv = await conversation(node, cid)
    if conv.state == "waiting":
        taken = await bo.request("call.accept", "call.accepted", conversation=cid, device="here")
        assert taken["type"] == "call.accepted", f"a ringing call nobody can take: {taken}"
    else:
        assert (await room_of(node, accepted["room"]["room"])).closed


async def test_transferred_call_moves_room_access_with_it(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """Handing an answered call on moves its room with it: the new owner may enter it, the old one no longer."""
    anna = await on_duty(node, http, clock, "Anna")
    bo = await on_duty(node, http, clock, "Bo")
    _, started = await call(anon, node)
    cid = started["conversation"]
    accepted = await anna.request("call.accept", "call.accepted", conversation=cid, device="here")
    room_id = accepted["room"]["room"]
    moved = await anna.request("chat.transfer", "chat.closed", conversation=cid, to="Bo", note="")
    assert moved["type"] == "chat.closed"
    bo_in = await bo.request("room.knock", "room.enter", room=room_id)
    assert bo_in["type"] == "room.enter", f"the new owner cannot enter the call's room: {bo_in}"
    anna_in = await anna.request("room.knock", "room.enter", room=room_id)
    assert anna_in["type"] == "error" and anna_in["code"] == "forbidden", \
        "the previous owner can still enter the private room of a call she handed on"


async def test_answered_callback_times_out_like_a_call(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """An answered call-back with no activity for 12 hours is ended by the sweep and its room closed, like a call."""
    vol = await on_duty(node, http, clock)
    c, cid = await ringing_callback(node, anon, vol, clock)
    await c.send(type="call.answer")
    accepted = await vol.expect("call.accepted", conversation=cid)
    clock.advance(13 * 3600)
    await node.runner.app[CHAT].sweep()
    assert (await conversation(node, cid)).state == "ended", "an answered call-back never times out"
    assert (await room_of(node, accepted["room"]["room"])).closed


async def test_callback_answered_after_the_caller_has_gone_is_not_connected(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """A call-back answered after the person who rang has gone (no socket left) is refused and stays listed."""
    vol = await on_duty(node, http, clock)
    c, cid = await ringing_callback(node, anon, vol, clock, device="link")
    await vol.close()
    chat = node.runner.app[CHAT]
    for _ in range(50):  # wait until the node has noticed the socket is gone
        if not chat.staff:
            break
        await asyncio.sleep(0.05)
    assert not chat.staff
    answered = await c.request("call.answer", "call.connect")
    assert answered["type"] == "error", "the citizen was put into a room with nobody to meet them"
    assert (await conversation(node, cid)).state == "waiting"


async def test_expired_handover_note_cannot_be_deleted(node: RunningNode, http: aiohttp.ClientSession,
                                                       clock: ManualClock) -> None:
    """A note past its expiry is gone for delete too, even before the purge has removed it."""
    anna = await on_duty(node, http, clock)
    added = await anna.request("handover.add", "handover", text="Husk nøglen", hours=1)
    note = added["notes"][0]["id"]
    clock.advance(3601)
    gone = await anna.request("handover.delete", "handover", note=note)
    assert gone["type"] == "error" and gone["code"] == "unknown_note"


async def test_volunteer_not_rung_cannot_accept_or_decline(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """Someone neither on duty nor rung by escalation may not accept, decline or call back."""
    await on_duty(node, http, clock, "Anna")
    off = await logged_in(node, http, clock, "Carl", "volunteer")
    _, started = await call(anon, node)
    cid = started["conversation"]
    for kind, reply, extra in (("call.accept", "call.accepted", {"device": "here"}),
                               ("call.decline", "call.declined", {"message": "Nej"}),
                               ("callback.start", "callback.ringing", {"device": "here"})):
        refused = await off.request(kind, reply, conversation=cid, **extra)
        assert refused["type"] == "error" and refused["code"] == "not_on_duty", (kind, refused)
    assert (await conversation(node, cid)).state == "waiting"


async def test_new_link_only_for_the_owner(node: RunningNode, http: aiohttp.ClientSession,
                                           anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """call.link is refused to anyone but the call's owner, even staff and admins."""
    anna = await on_duty(node, http, clock, "Anna")
    boss = await on_duty(node, http, clock, "Erik", "admin")
    _, started = await call(anon, node)
    cid = started["conversation"]
    await anna.request("call.accept", "call.accepted", conversation=cid, device="here")
    refused = await boss.request("call.link", "call.accepted", conversation=cid)
    assert refused["type"] == "error" and refused["code"] == "not_yours"
    links = await node.ctx.store.read(lambda c: c.execute("SELECT count(*) FROM invites").fetchone()[0])
    assert links == 0


async def test_tick_survives_a_call_back_answered_while_rings_time_out(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    """A citizen answering while the ring timers run (between two store reads) does not break the pass."""
    await on_duty(node, http, clock, "Anna")
    await on_duty(node, http, clock, "Bo")
    now = int(clock.now())
    pages, cids = [], []
    for person in ("Anna", "Bo"):
        page = await citizen(anon, node.port)
        started = await page.request("call.request", "call.started", media="audio", danger=False,
                                     **{"from": now, "to": now + 3600})
        cids.append(str(started["conversation"]))
        pages.append(page)
        await node.runner.app[CALLS].callback(staff_peer(node, person), cids[-1], "here")
        await page.expect("call.incoming")
    calls, chat = node.runner.app[CALLS], node.runner.app[CHAT]
    second = chat.citizens[cids[1]]
    store = node.ctx.store
    original = store.read
    answered = False

    async def read(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal answered
        if fn is conv_db.get and not answered:  # inside _unanswered for the first call-back
            answered = True
            await calls.answer(second)
        return await original(fn, *args, **kwargs)

    clock.advance(61)
    store.read = read  # type: ignore[method-assign]
    try:
        await calls.tick()
    finally:
        del store.read
    assert answered


async def test_quick_exit_while_a_call_back_rings_stops_the_ring(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    anna = await on_duty(node, http, clock, "Anna")
    page, cid = await ringing_callback(node, anon, anna, clock)
    await page.send(type="chat.quick_exit")
    await node.runner.app[CALLS].tick()
    assert (await anna.expect("call.ring_stop", conversation=cid))["reason"] == "left"
    assert cid not in node.runner.app[CALLS].ringing


async def test_declining_a_call_back_a_colleague_is_ringing_tells_them(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    anna = await on_duty(node, http, clock, "Anna")
    bo = await on_duty(node, http, clock, "Bo")
    page, cid = await ringing_callback(node, anon, anna, clock, media="video")
    await bo.request("call.decline", "call.declined", conversation=cid, message="Vi ringer i morgen i stedet.")
    stop = await anna.expect("call.ring_stop", conversation=cid)
    assert (stop["reason"], stop["by"]) == ("declined", "Bo")
    assert (await page.expect("call.declined"))["message"] == "Vi ringer i morgen i stedet."
