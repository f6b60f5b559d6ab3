"""tui.state: the console's picture of the node, built from frames only."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.state import ChatMessage, ConsoleState, LocalLine


def msg(i: int, text: str, sender: str = "citizen", author: str | None = None) -> dict[str, Any]:
    return {"id": i, "ts": 1_800_000_000.0 + i, "from": sender, "author": author, "text": text, "deleted": False}


def item(cid: str, risk: bool = False) -> dict[str, Any]:
    return {"conversation": cid, "pseudonym": f"P{cid}", "topic": None, "risk": risk, "kind": "chat",
            "waiting_s": 30, "messages": 0, "citizen": "connected"}


def test_queue_reports_new_and_gone_in_order() -> None:
    s = ConsoleState(now=lambda: 0.0)
    first = s.apply({"type": "queue", "items": [item("a"), item("b")], "on_duty": ["Anna"], "letters": 2})
    assert [i.conversation for i in first[0].data["new"]] == ["a", "b"]
    second = s.apply({"type": "queue", "items": [item("c", True), item("b")], "on_duty": [], "letters": 0})
    assert [i.conversation for i in second[0].data["new"]] == ["c"]
    assert second[0].data["gone"] == {"a"}
    assert [i.conversation for i in s.queue] == ["c", "b"]  # the node's order, as sent
    assert s.letters_waiting == 0


def test_pending_message_is_replaced_by_the_acknowledged_one() -> None:
    s = ConsoleState()
    s.apply({"type": "welcome", "role": "volunteer", "name": "Anna", "version": "1"})
    s.apply({"type": "chat.opened", "conversation": "c1", "pseudonym": "Lise", "topic": "Angst", "risk": False,
             "messages": [msg(1, "Hej")], "notes": [], "role": "owner", "citizen": "connected"})
    s.add_pending("c1", "k1", "Hej Lise", 5.0)
    conv = s.conversations["c1"]
    assert conv.entries[-1].id is None  # type: ignore[union-attr]
    s.apply({"type": "chat.ack", "client_id": "k1", "conversation": "c1",
             "message": msg(2, "Hej Lise", "staff", "Anna")})
    assert [e.id for e in conv.entries if isinstance(e, ChatMessage)] == [1, 2]
    # the same message delivered again (e.g. resent) is not shown twice
    s.apply({"type": "chat.message", "conversation": "c1", "message": msg(2, "Hej Lise", "staff", "Anna")})
    assert len(conv.entries) == 2


def test_reopened_after_a_gap_marks_missed_messages() -> None:
    s = ConsoleState()
    s.apply({"type": "chat.opened", "conversation": "c1", "pseudonym": "Lise", "messages": [msg(1, "a")],
             "notes": [], "role": "owner", "citizen": "connected"})
    s.active = None
    s.mark_gap(10.0, "Forbindelsen var væk 02:10–02:14")
    changes = s.apply({"type": "chat.opened", "conversation": "c1", "pseudonym": "Lise",
                       "messages": [msg(1, "a"), msg(2, "b"), msg(3, "c")], "notes": [],
                       "role": "owner", "citizen": "lost"})
    assert changes[0].data == {"reopened": True, "missed": 2}
    conv = s.conversations["c1"]
    assert isinstance(conv.entries[1], LocalLine)
    assert [e.missed for e in conv.entries if isinstance(e, ChatMessage)] == [False, True, True]
    assert conv.unread == 2 and conv.citizen == "lost"


def test_closed_removes_and_mine_reports_stale_and_missing() -> None:
    s = ConsoleState()
    s.apply({"type": "chat.opened", "conversation": "c1", "pseudonym": "Lise", "messages": [], "notes": []})
    s.active = "c1"
    change = s.apply({"type": "mine", "conversations": [{"conversation": "c9", "pseudonym": "Ole"}]})[0]
    assert change.data == {"missing": ["c9"], "stale": ["c1"]}
    s.apply({"type": "chat.closed", "conversation": "c1", "reason": "transferred"})
    assert "c1" not in s.conversations and s.active is None


def test_notes_typing_presence_deleted() -> None:
    s = ConsoleState(now=lambda: 3.0)
    s.apply({"type": "chat.opened", "conversation": "c1", "pseudonym": "Lise", "messages": [msg(1, "x")],
             "notes": [{"ts": 1.0, "author": "Anna", "text": "n1"}]})
    s.apply({"type": "note.added", "conversation": "c1", "note": {"ts": 2.0, "author": "Bo", "text": "n2"}})
    s.apply({"type": "chat.typing", "conversation": "c1", "active": True})
    s.apply({"type": "chat.deleted", "conversation": "c1", "message": 1})
    conv = s.conversations["c1"]
    assert [n.text for n in conv.notes] == ["n1", "n2"] and conv.typing and conv.typing_at == 3.0
    assert conv.entries[0].deleted and conv.entries[0].text == ""  # type: ignore[union-attr]
    s.apply({"type": "chat.presence", "conversation": "c1", "citizen": "left"})
    assert conv.citizen == "left" and not conv.typing


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                         max_size=5), max_leaves=20)
types = st.sampled_from(["welcome", "queue", "duty", "mine", "chat.opened", "chat.message", "chat.ack",
                         "chat.deleted", "chat.typing", "chat.presence", "chat.closed", "note.added", "alert",
                         "letters", "error", "pong", "nonsense", "call.ring", "call.ring_stop", "call.accepted",
                         "call.declined", "callback.ringing", "callback.unanswered", "handover", "roster"])
fields = st.sampled_from(["items", "conversation", "conversations", "messages", "message", "notes", "note",
                          "client_id", "on", "on_duty", "letters", "pseudonym", "risk", "active", "citizen",
                          "callbacks", "in_hours", "window", "media", "level", "waiting_s", "room", "url",
                          "expires", "ttl_s", "tries", "shifts", "next_open", "by", "reason"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(types, st.dictionaries(fields, json_values, max_size=5)), max_size=6))
def test_malformed_frames_never_break_the_console(frames: list[tuple[str, dict[str, Any]]]) -> None:
    s = ConsoleState()
    for kind, body in frames:
        s.apply({**body, "type": kind})


def test_a_refused_message_is_marked_not_sent() -> None:
    s = ConsoleState()
    s.apply({"type": "chat.opened", "conversation": "c1", "pseudonym": "Lise", "messages": [], "notes": []})
    s.add_pending("c1", "k1", "Hej", 1.0)
    s.apply({"type": "error", "code": "chat_ended", "reason": "this chat has ended", "id": "k1"})
    entry = s.conversations["c1"].entries[0]
    assert isinstance(entry, ChatMessage) and entry.failed == "Samtalen er slut." and entry.id is None


# -- calls, call-backs, roster and handover (docs/api.md section 9)

def call_item(cid: str, media: str = "video", risk: bool = False) -> dict[str, Any]:
    return {**item(cid, risk), "kind": "call", "media": media}


def callback(cid: str, start: float, ringing: bool = False) -> dict[str, Any]:
    return {"conversation": cid, "pseudonym": f"P{cid}", "topic": "Angst og uro", "risk": False, "media": "audio",
            "window": [start, start + 3600], "citizen": "connected", "tries": 1, "ringing": ringing}


def test_queue_holds_calls_callbacks_and_the_hours() -> None:
    s = ConsoleState(now=lambda: 0.0)
    s.apply({"type": "queue", "items": [call_item("k1", "audio"), item("c1")], "on_duty": ["Anna"], "letters": 0,
             "callbacks": [callback("b1", 1000.0, ringing=True), {"pseudonym": "no id"}], "in_hours": False})
    assert [(i.conversation, i.kind, i.media) for i in s.queue] == [("k1", "call", "audio"), ("c1", "chat", None)]
    assert len(s.callbacks) == 1
    cb = s.callbacks[0]
    assert (cb.conversation, cb.media, cb.window, cb.citizen, cb.tries, cb.ringing) == \
        ("b1", "audio", (1000.0, 4600.0), "connected", 1, True)
    assert cb.due(2000.0) and not cb.due(999.0) and not cb.due(5000.0)
    assert s.in_hours is False
    s.apply({"type": "queue", "items": [], "on_duty": [], "letters": 0})  # an older node: hours unknown, kept
    assert s.in_hours is False and s.callbacks == []
    assert s.pseudonym_of("k1") == "Pk1" and s.media_of("k1") == "audio"  # remembered after it left the queue


def test_ring_escalates_and_stops_with_who_took_it() -> None:
    clock = [100.0]
    s = ConsoleState(now=lambda: clock[0])
    frame = {"type": "call.ring", "conversation": "k1", "pseudonym": "Lise", "topic": "Ensomhed", "risk": True,
             "media": "video", "level": 0, "waiting_s": 3}
    first = s.apply(frame)[0]
    assert first.kind == "ring" and first.data["again"] is False
    ring = s.ringing["k1"]
    assert (ring.pseudonym, ring.topic, ring.risk, ring.media, ring.level) == ("Lise", "Ensomhed", True, "video", 0)
    clock[0] = 160.0
    assert ring.waited(clock[0]) == 63.0  # the wait ticks locally between frames
    again = s.apply({**frame, "level": 1, "waiting_s": 50})[0]
    assert again.data["again"] is True and s.ringing["k1"].level == 1
    stop = s.apply({"type": "call.ring_stop", "conversation": "k1", "reason": "accepted", "by": "Anna"})[0]
    assert stop.kind == "ring_stop" and stop.data["by"] == "Anna" and stop.data["reason"] == "accepted"
    assert "k1" not in s.ringing
    assert s.apply({"type": "call.ring_stop"}) == []


def test_a_call_that_leaves_the_queue_stops_ringing() -> None:
    s = ConsoleState(now=lambda: 0.0)
    s.apply({"type": "queue", "items": [call_item("k1")], "on_duty": [], "letters": 0})
    s.apply({"type": "call.ring", "conversation": "k1", "pseudonym": "Pk1", "media": "video", "level": 0,
             "waiting_s": 0})
    change = s.apply({"type": "queue", "items": [], "on_duty": [], "letters": 0})[0]
    assert change.data["gone"] == {"k1"} and not s.ringing


def test_accepted_link_counts_down_from_its_own_arrival() -> None:
    clock = [50.0]
    s = ConsoleState(now=lambda: clock[0])
    s.apply({"type": "call.ring", "conversation": "k1", "pseudonym": "Lise", "media": "audio", "level": 0,
             "waiting_s": 0})
    change = s.apply({"type": "call.accepted", "conversation": "k1", "device": "link",
                      "room": {"room": "r1", "kind": "support", "title": "Opkald med Anna"},
                      "url": "https://n.local/room#invite=t", "expires": 1_800_000_300.0, "ttl_s": 300})[0]
    link = s.links["k1"]
    assert change.kind == "link" and change.data is link
    assert (link.room, link.url, link.expires, link.ttl_s) == ("r1", "https://n.local/room#invite=t",
                                                               1_800_000_300.0, 300.0)
    assert link.left(50.0) == 300.0 and link.left(349.0) == 1.0 and link.left(400.0) == 0.0
    assert "k1" not in s.ringing and s.media_of("k1") == "audio"
    s.apply({"type": "chat.opened", "conversation": "k1", "pseudonym": "Lise", "messages": [], "notes": []})
    assert s.conversations["k1"].kind == "call"


def test_mine_marks_calls() -> None:
    s = ConsoleState()
    s.apply({"type": "mine", "conversations": [{"conversation": "k1", "pseudonym": "Lise", "kind": "call",
                                                "room": "r1"}]})
    s.apply({"type": "chat.opened", "conversation": "k1", "pseudonym": "Lise", "messages": [], "notes": []})
    assert s.conversations["k1"].kind == "call"
    s.apply({"type": "chat.opened", "conversation": "c1", "pseudonym": "Ole", "messages": [], "notes": []})
    assert s.conversations["c1"].kind == "chat"


def test_declined_callback_frames_and_duty_start() -> None:
    s = ConsoleState()
    assert s.apply({"type": "call.declined", "conversation": "k1"})[0].kind == "declined"
    assert s.apply({"type": "callback.ringing", "conversation": "b1"})[0].conversation == "b1"
    unanswered = s.apply({"type": "callback.unanswered", "conversation": "b1", "tries": 2})[0]
    assert unanswered.kind == "callback_unanswered" and unanswered.data == 2
    assert s.apply({"type": "duty", "on": True})[0].data == {"started": True}
    assert s.apply({"type": "duty", "on": True})[0].data == {"started": False}  # sent again on reconnect


def test_roster_and_handover() -> None:
    s = ConsoleState()
    s.apply({"type": "roster", "on_duty": [{"name": "Anna", "role": "staff", "present": True},
                                            {"name": "Bo", "role": "volunteer", "present": False}],
             "shifts": [{"id": 2, "name": "Bo", "role": "volunteer", "from": 200.0, "to": 300.0},
                        {"id": 1, "name": "Anna", "role": "staff", "from": 100.0, "to": 200.0},
                        {"id": True, "name": "bad"}],
             "in_hours": False, "next_open": 500.0})
    roster = s.roster
    assert roster is not None
    assert [(p.name, p.present) for p in roster.on_duty] == [("Anna", True), ("Bo", False)]
    assert [(x.id, x.name, x.start, x.end) for x in roster.shifts] == [(1, "Anna", 100.0, 200.0),
                                                                        (2, "Bo", 200.0, 300.0)]
    assert roster.next_open == 500.0 and s.in_hours is False
    s.apply({"type": "handover", "notes": [{"id": 7, "ts": 10.0, "author": "Anna", "text": "Printeren driller",
                                            "expires": 99.0}, {"text": "no id"}]})
    assert [(n.id, n.author, n.text, n.expires) for n in s.handover] == [(7, "Anna", "Printeren driller", 99.0)]
