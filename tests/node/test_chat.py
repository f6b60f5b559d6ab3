"""The chat end to end over real WebSockets: citizen ↔ node ↔ staff, with real TLS and SQLCipher."""
from __future__ import annotations

import asyncio

import aiohttp

from node import audit
from node.chat_ws import CHAT
from node.clock import ManualClock
from node.retention import run_once
from node.server import RunningNode
from tests.chatclient import WsClient, citizen, staff
from tests.conftest import enrol, login


async def on_duty(node: RunningNode, http: aiohttp.ClientSession, clock: ManualClock, name: str = "Anna",
                  role: str = "volunteer") -> WsClient:
    person = await enrol(node, clock, name, role)
    token = str((await login(http, person))["token"])
    client = await staff(http, token)
    await client.send(type="duty.set", on=True)
    await client.expect("duty", on=True)  # the connect-time {"on": false} is not the answer
    return client


async def test_closed_when_nobody_is_on_duty(node: RunningNode, anon: aiohttp.ClientSession) -> None:
    async with anon.get("/api/chat/status") as resp:
        status = await resp.json()
    assert status["open"] is False and status["on_duty"] == 0 and "112" in str(status["emergency"])
    c = await citizen(anon, node.port)
    reply = await c.request("chat.start", "chat.started", danger=False)
    assert reply["type"] == "error" and reply["code"] == "closed"


async def test_start_queue_take_exchange_note_end(node: RunningNode, http: aiohttp.ClientSession,
                                                  anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    async with anon.get("/api/chat/status") as resp:
        assert (await resp.json())["open"] is True
    first = await citizen(anon, node.port)
    started = await first.request("chat.start", "chat.started", name="Mette", topic="Ensomhed", danger=False)
    assert started["pseudonym"] == "Mette" and len(started["resume"]) >= 40
    state = await first.expect("chat.state")
    assert state["position"] == 1 and state["ahead"] == 0 and state["open"] is True
    alert = await vol.expect("alert", kind="new")
    assert alert["conversation"] == started["conversation"]
    # a second citizen in danger goes before the first
    second = await citizen(anon, node.port)
    risky = await second.request("chat.start", "chat.started", danger=True)
    assert (await second.expect("chat.state"))["position"] == 1
    assert (await first.expect("chat.state"))["position"] == 2
    queue = await vol.expect("queue")
    assert [i["conversation"] for i in queue["items"]] == [risky["conversation"], started["conversation"]]
    assert queue["items"][0]["risk"] is True
    # the citizen can write while waiting
    ack = await first.request("chat.send", "chat.ack", text="Er der nogen?", client_id="m1")
    assert ack["message"]["text"] == "Er der nogen?"
    opened = await vol.request("chat.take", "chat.opened", conversation=started["conversation"])
    assert [m["text"] for m in opened["messages"]] == ["Er der nogen?"]
    assert (await first.expect("chat.joined"))["name"] == "Anna"
    assert (await first.expect("chat.state"))["state"] == "active"
    # both ways, typing, and a private note the citizen never gets
    await vol.send(type="chat.typing", conversation=started["conversation"], active=True)
    assert (await first.expect("chat.typing"))["active"] is True
    await vol.request("chat.send", "chat.ack", conversation=started["conversation"], text="Hej Mette", client_id="s1")
    assert (await first.expect("chat.message"))["message"]["author"] == "Anna"
    await first.send(type="chat.send", text="Jeg har det svært", client_id="m2")
    assert (await vol.expect("chat.message"))["message"]["text"] == "Jeg har det svært"
    note = await vol.request("note.add", "note.added", conversation=started["conversation"], text="Virker ensom")
    assert note["note"]["text"] == "Virker ensom"
    ended = await vol.request("chat.end", "chat.closed", conversation=started["conversation"], topic="Ensomhed",
                              outcome="talt færdig")
    assert ended["reason"] == "ended"
    assert (await first.expect("chat.ended"))["reason"] == "ended"
    await first.settle()
    assert "Virker ensom" not in repr(first.frames)
    regs = await node.ctx.store.read(lambda c: c.execute("SELECT topic, outcome, risk FROM registrations").fetchall())
    assert regs == [("Ensomhed", "talt færdig", 0)]
    entries = await node.ctx.store.read(audit.entries_for, "Mette")
    assert [e.action for e in entries] == ["conversation_read"] and entries[0].actor == "Anna"


async def test_resend_after_reconnect_is_not_duplicated_and_resume_keeps_place(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    started = await c.request("chat.start", "chat.started", danger=False)
    await c.request("chat.send", "chat.ack", text="første", client_id="x1")
    await c.close()
    await vol.expect("queue", where=lambda f: [i["citizen"] for i in f["items"]] == ["lost"])
    again = await citizen(anon, node.port)
    resumed = await again.request("chat.resume", "chat.resumed", resume=started["resume"])
    assert resumed["state"] == "waiting" and [m["text"] for m in resumed["messages"]] == ["første"]
    assert (await again.expect("chat.state"))["position"] == 1
    dup = await again.request("chat.send", "chat.ack", text="første", client_id="x1")
    assert dup["message"]["id"] == resumed["messages"][0]["id"]
    count = await node.ctx.store.read(lambda c: c.execute("SELECT count(*) FROM messages").fetchone()[0])
    assert count == 1


async def test_left_is_not_lost(node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession,
                                clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    started = await c.request("chat.start", "chat.started", danger=False)
    cid = started["conversation"]
    await vol.request("chat.take", "chat.opened")
    await c.close()
    assert (await vol.expect("chat.presence", conversation=cid))["citizen"] == "lost"
    c2 = await citizen(anon, node.port)
    await c2.request("chat.resume", "chat.resumed", resume=started["resume"])
    assert (await vol.expect("chat.presence", conversation=cid))["citizen"] == "connected"
    await c2.request("chat.leave", "chat.ended")
    assert (await vol.expect("chat.presence", conversation=cid))["citizen"] == "left"
    # the owner can still register it
    await vol.request("chat.end", "chat.closed", conversation=cid, topic="Andet")
    c3 = await citizen(anon, node.port)
    gone = await c3.request("chat.resume", "chat.resumed", resume=started["resume"])
    assert gone["type"] == "error" and gone["code"] == "unknown_resume"


async def test_quick_exit_clears_the_server_state(node: RunningNode, http: aiohttp.ClientSession,
                                                  anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    started = await c.request("chat.start", "chat.started", danger=True)
    await c.send(type="chat.quick_exit")
    assert (await c.expect("chat.ended"))["reason"] == "quick_exit"
    queue = await vol.expect("queue", items=[])
    assert queue["items"] == []
    row = await node.ctx.store.read(lambda conn: conn.execute(
        "SELECT state, end_reason, resume_digest FROM conversations WHERE id = ?",
        (started["conversation"],)).fetchone())
    assert row == ("ended", "quick_exit", None)
    c2 = await citizen(anon, node.port)
    assert (await c2.request("chat.resume", "chat.resumed", resume=started["resume"]))["code"] == "unknown_resume"


async def test_two_staff_take_at_the_same_instant_exactly_one_wins(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    anna = await on_duty(node, http, clock, "Anna")
    bo = await on_duty(node, http, clock, "Bo")
    c = await citizen(anon, node.port)
    cid = (await c.request("chat.start", "chat.started", danger=False))["conversation"]
    await anna.expect("alert")
    await bo.expect("alert")
    for _ in range(3):  # and again, with each racing the other on the same conversation
        results = await asyncio.gather(anna.request("chat.take", "chat.opened", conversation=cid),
                                       bo.request("chat.take", "chat.opened", conversation=cid))
        kinds = sorted(r["type"] for r in results)
        assert kinds == ["chat.opened", "error"]
        assert [r for r in results if r["type"] == "error"][0]["code"] == "already_taken"
        winner = anna if results[0]["type"] == "chat.opened" else bo
        await winner.request("chat.transfer", "chat.closed", conversation=cid, note="igen")
    owners = await node.ctx.store.read(lambda conn: conn.execute(
        "SELECT count(*) FROM conversations WHERE owner IS NOT NULL").fetchone()[0])
    assert owners == 0


async def test_transfer_escalate_join(node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession,
                                      clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock, "Frida", "volunteer")
    other = await on_duty(node, http, clock, "Gustav", "volunteer")
    lead = await on_duty(node, http, clock, "Hanne", "staff")
    c = await citizen(anon, node.port)
    cid = (await c.request("chat.start", "chat.started", danger=True))["conversation"]
    await vol.request("chat.take", "chat.opened", conversation=cid)
    # transfer to another on-duty person, with a note
    await vol.send(type="chat.transfer", conversation=cid, to="Gustav", note="Hun vil gerne tale med en mand")
    assert (await vol.expect("chat.closed", conversation=cid))["reason"] == "transferred"
    opened = await other.expect("chat.opened", conversation=cid)
    assert "Hun vil gerne tale med en mand" in opened["notes"][-1]["text"]
    assert (await other.expect("alert", kind="transfer"))["from"] == "Frida"
    await c.expect("chat.joined", name="Gustav")
    # need help: staff consoles ring, staff joins as helper
    await other.send(type="chat.escalate", conversation=cid, note="Taler om at skade sig selv")
    ring = await lead.expect("alert", kind="escalation")
    assert ring["conversation"] == cid and ring["risk"] is True and ring["from"] == "Gustav"
    await asyncio.sleep(0.2)
    assert not vol.seen("alert") or all(a["kind"] != "escalation" for a in vol.seen("alert"))  # volunteers don't ring
    joined = await lead.request("chat.join", "chat.opened", conversation=cid)
    assert joined["role"] == "helper"
    await c.expect("chat.joined", name="Hanne")
    await c.send(type="chat.send", text="hjælp", client_id="h1")
    assert (await lead.expect("chat.message"))["message"]["text"] == "hjælp"
    assert (await other.expect("chat.message"))["message"]["text"] == "hjælp"
    # a volunteer cannot join; a stranger cannot send
    refused = await vol.request("chat.send", "chat.ack", conversation=cid, text="x", client_id="z")
    assert refused["code"] == "not_yours"


async def test_going_off_duty_with_open_chats_asks_first(node: RunningNode, http: aiohttp.ClientSession,
                                                         anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    cid = (await c.request("chat.start", "chat.started", danger=False))["conversation"]
    await vol.request("chat.take", "chat.opened")
    ask = await vol.request("duty.set", "duty", on=False)
    assert ask["code"] == "has_open_chats" and ask["conversations"] == [cid]
    await vol.send(type="duty.set", on=False, open_chats="requeue")
    await vol.expect("duty", on=False)
    await c.expect("chat.state", state="waiting", open=False)
    assert (await c.expect("status"))["open"] is False
    async with anon.get("/api/chat/status") as resp:
        assert (await resp.json())["open"] is False


async def test_letterbox_round_trip(node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession,
                                    clock: ManualClock) -> None:
    c = await citizen(anon, node.port)  # nobody on duty: the letterbox is the way in
    stored = await c.request("letter.send", "letter.stored", text="Kan I ringe til mig i morgen?", topic="Andet")
    code = stored["code"]
    waiting = await c.request("letter.read", "letter.answer", code=code)
    assert waiting["status"] == "waiting"
    vol = await on_duty(node, http, clock)
    letters = await vol.request("letters.list", "letters")
    assert letters["items"][0]["text"] == "Kan I ringe til mig i morgen?"
    cid = letters["items"][0]["conversation"]
    after = await vol.request("letter.reply", "letters", conversation=cid, text="Ja, skriv dit nummer her.")
    assert after["items"] == []
    answer = await c.request("letter.read", "letter.answer", code=code.lower().replace("-", ""))
    assert answer["status"] == "answered" and answer["messages"][-1]["text"] == "Ja, skriv dit nummer her."
    spent = await c.request("letter.read", "letter.answer", code=code)
    assert spent["code"] == "unknown_code"


async def test_citizen_deletes_own_message_everywhere(node: RunningNode, http: aiohttp.ClientSession,
                                                      anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    cid = (await c.request("chat.start", "chat.started", danger=False))["conversation"]
    await vol.request("chat.take", "chat.opened")
    ack = await c.request("chat.send", "chat.ack", text="mit cpr er 010101-1234", client_id="d1")
    await vol.expect("chat.message")
    await c.send(type="chat.delete", message=ack["message"]["id"])
    await c.expect("chat.deleted")
    assert (await vol.expect("chat.deleted", conversation=cid))["message"] == ack["message"]["id"]
    body = await node.ctx.store.read(lambda conn: conn.execute("SELECT body, deleted FROM messages").fetchall())
    assert body == [("", 1)]
    staff_msg = await vol.request("chat.send", "chat.ack", conversation=cid, text="ok", client_id="s")
    refused = await c.request("chat.delete", "chat.deleted", message=staff_msg["message"]["id"])
    assert refused["code"] == "unknown_message"


async def test_block_is_tied_to_resume_token(node: RunningNode, http: aiohttp.ClientSession,
                                             anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    started = await c.request("chat.start", "chat.started", danger=False)
    await vol.request("chat.take", "chat.opened")
    await vol.send(type="chat.block", conversation=started["conversation"], hours=2, reason="Chikane")
    assert (await c.expect("chat.ended"))["reason"] == "blocked"
    c2 = await citizen(anon, node.port)
    refused = await c2.request("chat.start", "chat.started", danger=False, previous=started["resume"])
    assert refused["code"] == "blocked"
    clock.advance(2 * 3600 + 1)
    allowed = await c2.request("chat.start", "chat.started", danger=False, previous=started["resume"])
    assert allowed["type"] == "chat.started"
    rows = await node.ctx.store.read(lambda conn: conn.execute("SELECT * FROM blocks").fetchall())
    assert all("127.0.0.1" not in repr(r) for r in rows)


async def test_retention_deletes_transcripts_on_schedule_and_keeps_registrations(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    cid = (await c.request("chat.start", "chat.started", danger=False))["conversation"]
    await vol.request("chat.take", "chat.opened")
    await c.request("chat.send", "chat.ack", text="RETENTION-MARKØR", client_id="r")
    await vol.request("chat.end", "chat.closed", conversation=cid, topic="Angst og uro")
    policy = node.ctx.auth.policy
    clock.advance(29 * 86400)
    assert await run_once(node.ctx.store, clock, policy) == 0
    clock.advance(1 * 86400 + 1)
    assert await run_once(node.ctx.store, clock, policy) == 1
    counts = await node.ctx.store.read(lambda conn: (
        conn.execute("SELECT count(*) FROM messages").fetchone()[0],
        conn.execute("SELECT count(*) FROM conversations").fetchone()[0],
        conn.execute("SELECT topic FROM registrations").fetchall()))
    assert counts == (0, 0, [("Angst og uro",)])
    for path in node.ctx.config.data_dir.rglob("store-*"):
        assert b"RETENTION" not in path.read_bytes()


async def test_centre_sets_retention_and_topics(node: RunningNode, http: aiohttp.ClientSession,
                                                clock: ManualClock) -> None:
    admin = await enrol(node, clock, "Ida", "admin")
    data = await login(http, admin)
    headers = {"X-CSRF-Token": str(data["csrf"])}
    async with http.put("/api/settings", json={"retention_days": 7, "topics": ["Ensomhed"]}, headers=headers) as r:
        assert r.status == 200 and (await r.json())["topics"] == ["Ensomhed", "Andet"]
    async with http.put("/api/settings", json={"retention_days": 0}, headers=headers) as r:
        assert r.status == 400
    async with http.put("/api/settings", json={"emergency": [{"label": "x", "number": "javascript:1"}]},
                        headers=headers) as r:
        assert r.status == 400
    assert node.ctx.store and node.runner.app[CHAT].centre.retention_days == 7
    volunteer = await enrol(node, clock, "Jens", "volunteer")
    http.cookie_jar.clear()
    token = (await login(http, volunteer))["token"]
    async with http.put("/api/settings", json={"hours": "x"}, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 403
    async with http.get("/api/chat/canned", headers={"Authorization": f"Bearer {token}"}) as r:
        assert len((await r.json())["canned"]) >= 3


async def test_lost_waiting_citizen_is_dropped_after_grace(node: RunningNode, http: aiohttp.ClientSession,
                                                           anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    await c.request("chat.start", "chat.started", danger=False)
    await c.close()
    await asyncio.sleep(0.2)
    chat = node.runner.app[CHAT]
    clock.advance(14 * 60)
    await chat.sweep()
    assert (await chat.status())["waiting"] == 1
    clock.advance(2 * 60)
    await chat.sweep()
    assert (await chat.status())["waiting"] == 0
    assert (await vol.expect("queue", items=[]))["items"] == []


async def test_replies_carry_the_request_id_and_a_socket_can_chat_again(
        node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    vol = await on_duty(node, http, clock)
    c = await citizen(anon, node.port)
    started = await c.request("chat.start", "chat.started", danger=False, id="r1")
    assert started["id"] == "r1"
    assert (await c.request("chat.send", "chat.ack", text="hej", client_id="a", id="r2"))["id"] == "r2"
    opened = await vol.request("chat.take", "chat.opened", id="t1")
    assert opened["id"] == "t1"
    await vol.send(type="chat.end", conversation=started["conversation"], topic="Andet")
    assert (await c.expect("chat.ended"))["reason"] == "ended"
    again = await c.request("chat.start", "chat.started", danger=False)
    assert again["type"] == "chat.started" and again["conversation"] != started["conversation"]


async def test_every_citizen_page_hears_when_the_chat_opens(node: RunningNode, http: aiohttp.ClientSession,
                                                            anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    page = await citizen(anon, node.port)
    assert (await page.expect("status"))["open"] is False
    await on_duty(node, http, clock)
    assert (await page.expect("status", open=True))["open"] is True
