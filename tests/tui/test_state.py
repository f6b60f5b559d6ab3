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
                         "letters", "error", "pong", "nonsense"])
fields = st.sampled_from(["items", "conversation", "conversations", "messages", "message", "notes", "note",
                          "client_id", "on", "on_duty", "letters", "pseudonym", "risk", "active", "citizen"])


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
