"""Calls end to end over real WebSockets (real TLS, real SQLCipher): ring, escalate, accept, decline,
call-backs, the one-time host link and the citizen's room pass."""
from __future__ import annotations

import aiohttp
import pytest

from node.call_ws import CALLS
from node.chat_ws import CHAT
from node.clock import ManualClock
from node.server import RunningNode
from tests.chatclient import WsClient, citizen, staff
from tests.conftest import enrol, login
from tests.node.test_chat import on_duty


async def logged_in(node: RunningNode, http: aiohttp.ClientSession, clock: ManualClock, name: str,
                    role: str) -> WsClient:
    """A connected staff socket that is not on duty."""
    person = await enrol(node, clock, name, role)
    return await staff(http, str((await login(http, person))["token"]))


async def call(anon: aiohttp.ClientSession, node: RunningNode, media: str = "video", **fields: object) -> tuple[
        WsClient, dict[str, object]]:
    c = await citizen(anon, node.port)
    started = await c.request("call.start", "call.started", media=media, danger=False, **fields)
    assert started["type"] == "call.started", started
    return c, started


async def test_call_rings_on_duty_and_accept_gives_one_time_link_and_pass(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock, "Anna")
    bo = await on_duty(node, http, clock, "Bo")
    off = await logged_in(node, http, clock, "Carl", "volunteer")
    c, started = await call(anon, node, "audio", topic="Ensomhed")
    cid = started["conversation"]
    assert started["state"] == "waiting" and started["media"] == "audio" and len(str(started["resume"])) >= 40
    for person in (vol, bo):
        ring = await person.expect("call.ring", conversation=cid)
        assert (ring["media"], ring["level"], ring["kind"], ring["topic"]) == ("audio", 0, "call", "Ensomhed")
    state = await c.expect("call.state")
    assert (state["state"], state["position"], state["letterbox"]) == ("waiting", 1, False)
    queue = await vol.expect("queue", where=lambda f: bool(f["items"]))
    assert queue["items"][0]["kind"] == "call" and queue["items"][0]["media"] == "audio"
    await off.settle()
    assert not off.seen("call.ring")  # not on duty, not yet escalated
    # chat.take refuses a call; call.accept with the link device wins it
    refused = await bo.request("chat.take", "chat.opened", conversation=cid)
    assert refused["code"] == "not_a_chat"
    accepted = await vol.request("call.accept", "call.accepted", conversation=cid, device="link")
    assert accepted["device"] == "link" and accepted["room"]["kind"] == "support"
    # the console reached the node as localhost (as over SSH on the node): the link carries the node's own URL
    assert accepted["url"].startswith(f"{node.url}room#invite=") and accepted["ttl_s"] == 300
    stop = await bo.expect("call.ring_stop", conversation=cid)
    assert (stop["reason"], stop["by"]) == ("accepted", "Anna")
    late = await bo.request("call.accept", "call.accepted", conversation=cid, device="here")
    assert late["code"] == "already_taken"
    connect = await c.expect("call.connect")
    assert connect["staff"] == "Anna" and connect["media"] == "audio" and connect["room"] == accepted["room"]
    # the one-time link admits a browser as host once
    token = accepted["url"].split("#invite=", 1)[1]
    tablet = await citizen(anon, node.port)
    entered = await tablet.request("room.knock", "room.enter", invite=token)
    assert entered["type"] == "room.enter" and entered["role"] == "host"
    again = await (await citizen(anon, node.port)).request("room.knock", "room.enter", invite=token)
    assert again["code"] == "invite_used"
    # the citizen's pass admits them at once, once
    room_socket = await citizen(anon, node.port)
    admitted = await room_socket.request("room.resume", "room.admitted", resume=connect["pass"], camera=False)
    assert admitted["type"] == "room.admitted" and admitted["room"]["room"] == accepted["room"]["room"]
    names = {p["name"] for p in admitted["roster"]["participants"]}
    assert names == {"Anna", started["pseudonym"]}
    reuse = await (await citizen(anon, node.port)).request("room.resume", "room.admitted", resume=connect["pass"])
    assert reuse["code"] == "unknown_resume"
    # the room is full now, and a spent link still says that it is spent (not that the room is full)
    full = await (await citizen(anon, node.port)).request("room.knock", "room.enter", invite=token)
    assert full["code"] == "invite_used"
    # the call is on Anna's desk; ending it registers it and closes the room
    mine = await vol.expect("mine", where=lambda f: bool(f["conversations"]))
    assert mine["conversations"][0]["kind"] == "call"
    assert mine["conversations"][0]["room"] == accepted["room"]["room"]  # a reloaded page can go back in
    await vol.request("chat.end", "chat.closed", conversation=cid, topic="Ensomhed")
    assert (await room_socket.expect("room.closed"))["reason"]
    assert (await tablet.expect("room.closed"))["reason"]
    kinds = await node.ctx.store.read(lambda conn: conn.execute("SELECT kind FROM registrations").fetchall())
    assert kinds == [("call",)]


async def test_link_expires(node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession,
                            clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    _, started = await call(anon, node)
    accepted = await vol.request("call.accept", "call.accepted", conversation=started["conversation"], device="link")
    clock.advance(accepted["ttl_s"] + 1)
    token = accepted["url"].split("#invite=", 1)[1]
    late = await (await citizen(anon, node.port)).request("room.knock", "room.enter", invite=token)
    assert late["code"] == "invite_expired"
    fresh = await vol.request("call.link", "call.accepted", conversation=started["conversation"])
    assert fresh["url"] != accepted["url"]
    entered = await (await citizen(anon, node.port)).request("room.knock", "room.enter",
                                                             invite=fresh["url"].split("#invite=", 1)[1])
    assert entered["type"] == "room.enter"


async def test_escalation_rings_the_next_role_after_n_seconds(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock, "Anna", "volunteer")
    lead = await logged_in(node, http, clock, "Dorte", "staff")
    boss = await logged_in(node, http, clock, "Erik", "admin")
    calls = node.runner.app[CALLS]
    c, started = await call(anon, node)
    cid = started["conversation"]
    await vol.expect("call.ring", conversation=cid, level=0)
    escalate = node.runner.app[CHAT].centre.ring_escalate_s
    clock.advance(escalate - 1)
    await calls.tick()
    await lead.settle()
    assert not lead.seen("call.ring")
    clock.advance(1)
    await calls.tick()
    assert (await lead.expect("call.ring", conversation=cid))["level"] == 1
    assert (await vol.expect("call.ring", conversation=cid))["level"] == 1  # everyone rung hears the new level
    assert not boss.seen("call.ring")
    clock.advance(escalate)
    await calls.tick()
    assert (await boss.expect("call.ring", conversation=cid))["level"] == 2
    # anyone the call has rung may answer, on duty or not
    accepted = await boss.request("call.accept", "call.accepted", conversation=cid, device="link")
    assert accepted["type"] == "call.accepted"
    for person in (vol, lead):
        assert (await person.expect("call.ring_stop", conversation=cid))["by"] == "Erik"
    await c.expect("call.connect")


async def test_letterbox_offered_after_m_minutes(node: RunningNode, http: aiohttp.ClientSession,
                                                 anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    await on_duty(node, http, clock)
    c, _ = await call(anon, node)
    assert (await c.expect("call.state"))["letterbox"] is False
    clock.advance(node.runner.app[CHAT].centre.letterbox_after_min * 60)
    await node.runner.app[CALLS].tick()
    state = await c.expect("call.state", letterbox=True)
    assert "112" in str(state["emergency"]) and state["state"] == "waiting"


async def test_decline_sends_the_message(node: RunningNode, http: aiohttp.ClientSession,
                                         anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    bo = await on_duty(node, http, clock, "Bo")
    c, started = await call(anon, node)
    cid = started["conversation"]
    reply = await vol.request("call.decline", "call.declined", conversation=cid,
                              message="Vi kan ikke tale i telefon lige nu. Skriv gerne i chatten.")
    assert reply["conversation"] == cid
    declined = await c.expect("call.declined")
    assert declined["message"] == "Vi kan ikke tale i telefon lige nu. Skriv gerne i chatten."
    assert (await bo.expect("call.ring_stop", conversation=cid))["reason"] == "declined"
    gone = await c.request("call.resume", "call.resumed", resume=started["resume"])
    assert gone["code"] == "unknown_resume"
    blank = await vol.request("call.decline", "call.declined", conversation=cid, message="  ")
    assert blank["code"] == "bad_field"


async def test_switch_to_chat_keeps_place_and_hangup_ends(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    first = await citizen(anon, node.port)
    chat = await first.request("chat.start", "chat.started", danger=False)
    clock.advance(1)  # the manual clock stands still: same-second arrivals would order by random id
    c, started = await call(anon, node)
    assert (await c.expect("call.state"))["position"] == 2
    await c.request("call.to_chat", "call.switched")
    assert (await c.expect("chat.state"))["position"] == 2
    assert (await vol.expect("call.ring_stop", conversation=started["conversation"]))["reason"] == "chat"
    resumed = await (await citizen(anon, node.port)).request("chat.resume", "chat.resumed", resume=started["resume"])
    assert resumed["conversation"] == started["conversation"]
    other, second = await call(anon, node)
    ended = await other.request("call.hangup", "call.ended")
    assert ended["reason"] == "left"
    assert (await vol.expect("call.ring_stop", conversation=second["conversation"]))["reason"] == "left"
    queue = await vol.expect("queue", where=lambda f: len(f["items"]) == 2)
    assert [i["conversation"] for i in queue["items"]] == [chat["conversation"], started["conversation"]]


async def test_callback_round_trip(node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession,
                                   clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    now = int(clock.now())
    started = await c.request("call.request", "call.started", media="video", danger=False, name="Mette",
                              **{"from": now, "to": now + 3600})
    assert started["state"] == "scheduled" and started["window"] == [now, now + 3600]
    state = await c.expect("call.state", state="scheduled")
    assert state["window"] == [now, now + 3600]
    queue = await vol.expect("queue", where=lambda f: bool(f["callbacks"]))
    listed = queue["callbacks"][0]
    assert (listed["pseudonym"], listed["window"], listed["citizen"], listed["ringing"]) == (
        "Mette", [now, now + 3600], "connected", False)
    assert not queue["items"]  # a call-back does not stand in the ringing queue
    ringing = await vol.request("callback.start", "callback.ringing", conversation=started["conversation"],
                                device="here")
    assert ringing["conversation"] == started["conversation"]
    incoming = await c.expect("call.incoming")
    assert incoming["name"] == "Anna" and incoming["media"] == "video"
    await c.send(type="call.answer")
    connect = await c.expect("call.connect")
    accepted = await vol.expect("call.accepted", conversation=started["conversation"])
    assert accepted["device"] == "here" and "url" not in accepted
    # staff enter their room from the web page; the citizen with the pass
    entered = await vol.request("room.knock", "room.enter", room=accepted["room"]["room"])
    assert entered["type"] == "room.enter"
    admitted = await c.request("room.resume", "room.admitted", resume=connect["pass"])
    assert admitted["type"] == "room.admitted"


async def test_callback_unanswered_three_times_ends(node: RunningNode, http: aiohttp.ClientSession,
                                                   anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    now = int(clock.now())
    started = await c.request("call.request", "call.started", media="audio", danger=False,
                              **{"from": now, "to": now + 7200})
    calls = node.runner.app[CALLS]
    for attempt in (1, 2, 3):
        await vol.request("callback.start", "callback.ringing", conversation=started["conversation"], device="link")
        await c.expect("call.incoming")
        clock.advance(61)
        await calls.tick()
        assert (await vol.expect("callback.unanswered"))["tries"] == attempt
    assert (await c.expect("call.ended"))["reason"] == "unanswered"


async def test_callback_needs_the_page_open_and_a_sane_window(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    now = int(clock.now())
    for start, end in ((now - 3600, now), (now, now + 60), (now, now + 8 * 24 * 3600)):
        bad = await c.request("call.request", "call.started", media="video", danger=False,
                              **{"from": start, "to": end})
        assert bad["code"] == "bad_window"
    bad_media = await c.request("call.request", "call.started", media="fax", danger=False,
                                **{"from": now, "to": now + 3600})
    assert bad_media["code"] == "bad_media"
    started = await c.request("call.request", "call.started", media="video", danger=False,
                              **{"from": now, "to": now + 3600})
    await c.close()
    away = await vol.request("callback.start", "callback.ringing", conversation=started["conversation"], device="here")
    assert away["code"] == "citizen_away"
    back = await citizen(anon, node.port)
    resumed = await back.request("call.resume", "call.resumed", resume=started["resume"])
    assert resumed["state"] == "scheduled"


async def test_calls_closed_when_nobody_on_duty_or_switched_off(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    c = await citizen(anon, node.port)
    closed = await c.request("call.start", "call.started", media="video", danger=False)
    assert closed["code"] == "closed"
    await on_duty(node, http, clock)
    node.runner.app[CHAT].centre.calls = False
    off = await c.request("call.start", "call.started", media="video", danger=False)
    assert off["code"] == "calls_off"


async def test_out_of_hours_status_and_message(node: RunningNode, anon: aiohttp.ClientSession) -> None:
    chat = node.runner.app[CHAT]
    chat.centre.opening_hours = {day: [] for day in chat.centre.opening_hours}
    chat.centre.opening_hours["mon"] = ["18:00-02:00"]
    async with anon.get("/api/chat/status") as resp:
        status = await resp.json()
    assert status["calls"] is True and isinstance(status["in_hours"], bool)
    if not status["in_hours"]:
        assert status["next_open"] > 0
    c = await citizen(anon, node.port)
    closed = await c.request("call.start", "call.started", media="audio", danger=False)
    assert closed["code"] == "closed"
    assert closed["reason"] == (chat.centre.out_of_hours if not status["in_hours"] else
                                "nobody is on duty right now; leave a message in the letterbox")


async def test_lost_caller_stops_ringing_after_grace(node: RunningNode, http: aiohttp.ClientSession,
                                                     anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c, started = await call(anon, node)
    await vol.expect("call.ring")
    await c.close()
    await vol.expect("queue", where=lambda f: [i["citizen"] for i in f["items"]] == ["lost"])
    away = await vol.request("call.accept", "call.accepted", conversation=started["conversation"], device="here")
    assert away["code"] == "citizen_away"
    clock.advance(121)
    await node.runner.app[CALLS].tick()
    assert (await vol.expect("call.ring_stop", conversation=started["conversation"]))["reason"] == "lost"


async def test_console_connecting_later_is_rung(node: RunningNode, http: aiohttp.ClientSession,
                                                anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    person = await enrol(node, clock, "Anna", "volunteer")
    token = str((await login(http, person))["token"])
    first = await staff(http, token)
    await first.send(type="duty.set", on=True)
    await first.expect("duty", on=True)
    _, started = await call(anon, node)
    second = await staff(http, token)  # a second device of the same person, opened after the call came
    assert (await second.expect("call.ring"))["conversation"] == started["conversation"]


async def test_handover_notes_expire_and_carry_no_citizen(node: RunningNode, http: aiohttp.ClientSession,
                                                          clock: ManualClock) -> None:
    anna = await on_duty(node, http, clock)
    bo = await logged_in(node, http, clock, "Bo", "volunteer")
    boss = await logged_in(node, http, clock, "Erik", "admin")
    added = await anna.request("handover.add", "handover", text="Printeren driller. Husk at lukke vinduet.", hours=2)
    note = added["notes"][0]
    assert (note["author"], note["text"]) == ("Anna", "Printeren driller. Husk at lukke vinduet.")
    assert set(note) == {"id", "ts", "author", "text", "expires"}  # no conversation, pseudonym or citizen
    assert (await bo.expect("handover"))["notes"][0]["id"] == note["id"]
    refused = await bo.request("handover.delete", "handover", note=note["id"])
    assert refused["code"] == "forbidden"
    too_long = await anna.request("handover.add", "handover", text="x", hours=169)
    assert too_long["code"] == "bad_field"
    clock.advance(2 * 3600 + 1)
    assert (await bo.request("handover.list", "handover"))["notes"] == []
    second = await anna.request("handover.add", "handover", text="Ny note")
    assert second["notes"][0]["expires"] - second["notes"][0]["ts"] == 24 * 3600
    await boss.send(type="handover.delete", note=second["notes"][0]["id"])
    await boss.expect("handover", where=lambda f: f["notes"] == [])  # earlier broadcasts come first


async def test_roster_shows_duty_now_and_planned_shifts(node: RunningNode, http: aiohttp.ClientSession,
                                                        clock: ManualClock) -> None:
    anna = await on_duty(node, http, clock)
    boss = await logged_in(node, http, clock, "Erik", "admin")
    roster = await anna.request("roster.get", "roster")
    assert roster["on_duty"] == [{"name": "Anna", "role": "volunteer", "present": True}]
    now = int(clock.now())
    refused = await anna.request("roster.add", "roster", name="Anna", **{"from": now, "to": now + 3600})
    assert refused["code"] == "forbidden"
    planned = await boss.request("roster.add", "roster", name="Anna", **{"from": now + 3600, "to": now + 7200})
    assert [(s["name"], s["from"], s["to"]) for s in planned["shifts"]] == [("Anna", now + 3600, now + 7200)]
    assert (await anna.expect("roster"))["shifts"] == planned["shifts"]
    for start, end in ((now, now + 25 * 3600), (now - 7200, now - 3600), (now + 60, now)):
        bad = await boss.request("roster.add", "roster", name="Anna", **{"from": start, "to": end})
        assert bad["code"] == "bad_shift"
    nobody = await boss.request("roster.add", "roster", name="Ingen", **{"from": now, "to": now + 60})
    assert nobody["code"] == "unknown_account"
    removed = await boss.request("roster.remove", "roster", shift=planned["shifts"][0]["id"])
    assert removed["shifts"] == []
    missing = await boss.request("roster.remove", "roster", shift=99)
    assert missing["code"] == "unknown_shift"


@pytest.mark.parametrize("frame", [
    {"type": "call.start", "media": "video"},
    {"type": "call.start", "media": "video", "danger": False, "extra": 1},
    {"type": "call.request", "media": "video", "danger": False, "from": 1.5, "to": 2},
    {"type": "call.accept", "conversation": "x", "device": "phone"},
    {"type": "call.answer"},
    {"type": "call.hangup"},
    {"type": "call.to_chat"},
])
async def test_bad_call_frames_are_refused(node: RunningNode, http: aiohttp.ClientSession,
                                           anon: aiohttp.ClientSession, clock: ManualClock,
                                           frame: dict[str, object]) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    sender = vol if frame["type"] == "call.accept" else c
    await sender.send(**frame)
    error = await sender.expect("error")
    assert error["code"] in ("bad_field", "not_in_chat", "forbidden")
    assert (await c.request("ping", "pong"))["type"] == "pong"  # the socket stays usable


@pytest.mark.parametrize("host, base", [
    ("fristed.local:8443", "https://fristed.local:8443"),
    ("192.168.1.20:8443", "https://192.168.1.20:8443"),
    ("[fd00::5]:8443", "https://[fd00::5]:8443"),
    ("localhost:8443", "https://fristed.local:8443"),
    ("127.0.0.1:9000", "https://fristed.local:8443"),
    ("[::1]:8443", "https://fristed.local:8443"),
    ("", "https://fristed.local:8443"),
])
async def test_link_base_prefers_the_consoles_address_unless_loopback(node: RunningNode, host: str,
                                                                       base: str) -> None:
    calls = node.runner.app[CALLS]
    calls.public_base = "https://fristed.local:8443"
    assert calls.link_base(host) == base


async def test_going_off_duty_stops_the_ringing_there(node: RunningNode, http: aiohttp.ClientSession,
                                                      anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    anna = await on_duty(node, http, clock, "Anna")
    bo = await on_duty(node, http, clock, "Bo")
    _, started = await call(anon, node)
    cid = started["conversation"]
    await bo.expect("call.ring", conversation=cid)
    await bo.send(type="duty.set", on=False)
    await bo.expect("duty", on=False)
    await node.runner.app[CALLS].tick()
    assert (await bo.expect("call.ring_stop", conversation=cid))["reason"] == "off_duty"
    await anna.settle()
    assert not anna.seen("call.ring_stop")  # still on duty: still ringing
