"""The working view: status bar, ringing calls, the queue, call-backs and my chats on the left, open
conversations as tabs."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from tui.screens.calls import DeclineDialog
from tui.screens.dialogs import (BlockDialog, CannedDialog, EndChoice, EndDialog, EscalateDialog,
                                 OpenChatsDialog, TransferChoice, TransferDialog)
from tui.screens.handover import HandoverScreen
from tui.screens.letters import LettersScreen
from tui.screens.roster import RosterScreen
from tui.state import ROLES_DA, Conversation
from tui.widgets.calls import CallbackList, RingingPanel
from tui.widgets.conversation import ConversationPane, NotesPanel, pane_id
from tui.widgets.queue import QueueList
from tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from tui.app import ConsoleApp

TYPING_EVERY = 4.0  # at most one "typing" frame per conversation this often
TYPING_IDLE = 5.0   # no keystroke this long: tell the citizen the typing stopped


class MainScreen(Screen[None]):
    """All chat actions live here; the command palette calls the same actions."""

    BINDINGS = [
        Binding("n", "take_next", "Tag næste"),
        Binding("o", "toggle_duty", "Vagt til/fra"),
        Binding("a", "acknowledge", "Kvittér alarm"),
        Binding("l", "letters", "Breve"),
        Binding("j", "join", "Hjælp kollega", show=False),
        Binding("c", "accept_call", "Tag opkald"),
        Binding("x", "decline_call", "Afvis opkald", show=False),
        Binding("k", "call_link", "Link til opkald", show=False),
        Binding("r", "callbacks", "Ring tilbage", show=False),
        Binding("v", "roster", "Vagtplan", show=False),
        Binding("h", "handover", "Overlevering", show=False),
        Binding("escape", "focus_queue", "Køen", show=False),
        Binding("f2", "canned", "Standardsvar", priority=True),
        Binding("f3", "note", "Note", priority=True),
        Binding("f4", "transfer", "Overdrag", priority=True),
        Binding("f5", "escalate", "Brug for hjælp", priority=True),
        Binding("f6", "end", "Afslut samtale", priority=True),
        Binding("f7", "block", "Blokér", show=False, priority=True),
        *[Binding(f"alt+{i}", f"switch({i})", f"Samtale {i}", show=False, priority=True) for i in range(1, 10)],
    ]

    def __init__(self) -> None:
        super().__init__()
        self._typing_sent: dict[str, float] = {}  # when "typing: true" last went out, per chat
        self._typed_at: dict[str, float] = {}     # the last keystroke in the composer, per chat

    @property
    def console(self) -> "ConsoleApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield RingingPanel(id="ringing")
        with Horizontal(id="main"):
            with Vertical(id="sidebar"):
                yield Static("Venter i køen", classes="panel-title", markup=False)
                yield QueueList(id="queue")
                yield Static("", id="on-duty", markup=False)
                yield Static("Ring tilbage (r)", classes="panel-title", markup=False)
                yield CallbackList(id="callbacks")
                yield Static("", id="callbacks-empty", markup=False)
                yield Static("Dine samtaler", classes="panel-title", markup=False)
                yield Static("", id="mine", markup=False)
                yield Static("", id="events", markup=False)
            with Vertical(id="work"):
                yield Static("Ingen åben samtale. Tryk mellemrum eller n for at tage den næste i køen.",
                             id="empty", markup=False)
                yield TabbedContent(id="tabs")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one("#tabs", TabbedContent).display = False
        self.query_one(QueueList).focus()
        self.set_interval(2.0, self._tick)
        self.refresh_all()
        state = self.console.state  # what came from the node before this screen was mounted
        for cid in state.open_ids():
            await self.add_conversation(state.conversations[cid], activate=cid == state.active)

    # ---------------------------------------------------------------- rendering

    def refresh_all(self) -> None:
        self.refresh_status()
        self.refresh_queue()
        self.refresh_mine()

    def refresh_status(self) -> None:
        app = self.console
        state = app.state
        who = f"{state.name or '?'} ({ROLES_DA.get(state.role or '', state.role or '')})"
        self.query_one(StatusBar).show(app.node_name, who, state.on_duty, app.connected, app.down_text,
                                       state.letters_waiting, len(app.alerter.pending), state.in_hours)

    def refresh_queue(self) -> None:
        state = self.console.state
        self.query_one(QueueList).show(state.queue, state.now())
        others = state.on_duty_names
        self.query_one("#on-duty", Static).update(
            f"På vagt: {', '.join(others)}" if others else "Ingen er på vagt.")
        self.refresh_calls()

    def refresh_calls(self) -> None:
        """The ringing banner and the call-back list."""
        app = self.console
        state = app.state
        self.query_one(RingingPanel).show(list(state.ringing.values()), state.now())
        callbacks = self.query_one(CallbackList)
        callbacks.show(state.callbacks, app.wallclock())
        callbacks.display = bool(state.callbacks)
        self.query_one("#callbacks-empty", Static).update(
            "" if state.callbacks else Text("Ingen har bedt om at blive ringet op.", style="dim"))

    def refresh_mine(self) -> None:
        state = self.console.state
        text = Text()
        for i, cid in enumerate(state.open_ids(), start=1):
            conv = state.conversations[cid]
            text.append(f"Alt+{i} " if i <= 9 else "      ", style="dim")
            text.append(conv.pseudonym, style="bold" if cid == state.active else "")
            if conv.unread:
                text.append(f"  {conv.unread} ny{'e' if conv.unread != 1 else ''}", style="bold yellow")
            if conv.citizen != "connected":
                text.append("  (væk)" if conv.citizen == "lost" else "  (gået)", style="italic")
            text.append("\n")
        pending = [c for c in state.mine if str(c.get("conversation")) not in state.conversations]
        for c in pending:
            text.append(f"      {c.get('pseudonym', '?')}  (venter på historik fra noden)\n", style="dim")
        text.rstrip()
        self.query_one("#mine", Static).update(text if text.plain else Text("Ingen.", style="dim"))
        tabs = self.query_one("#tabs", TabbedContent)
        for i, cid in enumerate(state.open_ids(), start=1):
            conv = state.conversations[cid]
            try:
                tab = tabs.get_tab(pane_id(cid))
            except Exception:
                continue
            label = f"{i} {conv.pseudonym}" + (f" ●{conv.unread}" if conv.unread else "")
            if conv.risk:
                label = "! " + label
            tab.label = label

    def event_line(self, text: str) -> None:
        self.query_one("#events", Static).update(Text(text, style="yellow"))

    def pane(self, cid: str) -> ConversationPane | None:
        try:
            return self.query_one(f"#{pane_id(cid)} ConversationPane", ConversationPane)
        except Exception:
            return None

    def refresh_conversation(self, cid: str) -> None:
        conv = self.console.state.conversations.get(cid)
        pane = self.pane(cid)
        if conv is not None and pane is not None:
            pane.show(conv, self.console.state.name, self.console.state.now())

    async def add_conversation(self, conv: Conversation, activate: bool) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        if self.pane(conv.id) is None:
            await tabs.add_pane(TabPane(conv.pseudonym, ConversationPane(conv.id), id=pane_id(conv.id)))
            tabs.display = True
            self.query_one("#empty").display = False
        self.refresh_conversation(conv.id)
        if activate:
            self.activate(conv.id)
        self.refresh_mine()

    async def remove_conversation(self, cid: str) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        if self.pane(cid) is not None:
            await tabs.remove_pane(pane_id(cid))
        state = self.console.state
        if not state.conversations:
            tabs.display = False
            self.query_one("#empty").display = True
            self.query_one(QueueList).focus()
        elif state.active is None:
            self.activate(next(iter(state.conversations)))
        self.refresh_mine()

    def activate(self, cid: str) -> None:
        state = self.console.state
        if cid not in state.conversations:
            return
        state.active = cid
        state.conversations[cid].unread = 0
        self.console.alerter.acknowledge(cid)
        tabs = self.query_one("#tabs", TabbedContent)
        if tabs.active != pane_id(cid):
            tabs.active = pane_id(cid)
        pane = self.pane(cid)
        if pane is not None:
            if state.conversations[cid].kind == "call":  # the talk is in the room: notes only here
                pane.query_one(".note-input", Input).focus()
            else:
                pane.composer.focus()
        self.refresh_mine()
        self.refresh_status()

    async def _tick(self) -> None:
        self.refresh_queue()
        state = self.console.state
        for cid in [c for c, at in self._typed_at.items() if state.now() - at >= TYPING_IDLE]:
            self._typed_at.pop(cid, None)
            if self._typing_sent.pop(cid, None) is not None and cid in state.conversations:
                await self.console.send_frame({"type": "chat.typing", "conversation": cid, "active": False},
                                              quiet=True)
        for cid, conv in state.conversations.items():
            pane = self.pane(cid)
            if pane is not None:
                pane.show_typing(conv, state.now())

    # ---------------------------------------------------------------- widget messages

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane_widget = event.pane.query(ConversationPane).first() if event.pane is not None else None
        if pane_widget is not None and pane_widget.conversation != self.console.state.active:
            self.activate(pane_widget.conversation)

    async def on_queue_list_take(self, message: QueueList.Take) -> None:
        await self.take(message.conversation)

    async def on_callback_list_start(self, message: CallbackList.Start) -> None:
        await self.start_callback(message.conversation)

    async def on_conversation_pane_send(self, message: ConversationPane.Send) -> None:
        app = self.console
        client_id = await app.client_send_message(message.conversation, message.text)
        app.state.add_pending(message.conversation, client_id, message.text, app.wallclock())
        app.alerter.acknowledge(message.conversation)  # answering is seeing it
        self._typing_sent.pop(message.conversation, None)  # the message itself ends "skriver …"
        self._typed_at.pop(message.conversation, None)
        self.refresh_conversation(message.conversation)

    async def on_conversation_pane_typing(self, message: ConversationPane.Typing) -> None:
        now = self.console.state.now()
        self._typed_at[message.conversation] = now
        if now - self._typing_sent.get(message.conversation, -1e9) < TYPING_EVERY:
            return
        self._typing_sent[message.conversation] = now
        await self.console.send_frame({"type": "chat.typing", "conversation": message.conversation,
                                       "active": True}, quiet=True)

    async def on_conversation_pane_canned_wanted(self, message: ConversationPane.CannedWanted) -> None:
        await self.action_canned()

    async def on_notes_panel_add(self, message: NotesPanel.Add) -> None:
        await self.console.send_frame({"type": "note.add", "conversation": message.conversation,
                                       "text": message.text})

    # ---------------------------------------------------------------- actions

    def _active(self) -> Conversation | None:
        state = self.console.state
        conv = state.conversations.get(state.active or "")
        if conv is None:
            self.notify("Åbn en samtale først (Alt+1 … Alt+9).", severity="warning")
        return conv

    async def take(self, conversation: str | None) -> None:
        """Take a chat, or answer a call: the next in queue order when ``conversation`` is None."""
        queue = self.console.state.queue
        item = next((i for i in queue if i.conversation == conversation), None) if conversation else \
            (queue[0] if queue else None)
        if item is not None and item.kind == "call":
            await self.accept_call(item.conversation)
            return
        frame: dict[str, Any] = {"type": "chat.take"}
        if conversation is not None:
            frame["conversation"] = conversation
        self.console.opening = await self.console.send_frame(frame)

    async def action_take_next(self) -> None:
        await self.take(None)

    async def action_toggle_duty(self) -> None:
        state = self.console.state
        await self.console.send_frame({"type": "duty.set", "on": not state.on_duty})

    def ask_open_chats(self, quitting: bool) -> None:
        """The node said ``has_open_chats`` (or we are quitting): return them to the queue or transfer."""
        state = self.console.state
        count = len([c for c in state.conversations.values() if c.role != "helper"]) or len(state.mine)

        async def chosen(choice: object) -> None:
            if isinstance(choice, TransferChoice):
                if quitting:  # a worker: it waits for frames the message loop must deliver
                    self.app.run_worker(self.console.quit_after_handover(choice), group="quit")
                    return
                frame: dict[str, Any] = {"type": "duty.set", "on": False,
                                         "open_chats": "transfer" if choice.to else "requeue"}
                if choice.to:
                    frame["to"] = choice.to
                await self.console.send_frame(frame)
            elif choice == "leave":
                await self.console.finish()

        self.app.push_screen(OpenChatsDialog(count, state.others_on_duty(), quitting, self.console.connected),
                             chosen)

    def action_acknowledge(self) -> None:
        count = self.console.alerter.acknowledge()
        self.refresh_status()
        self.notify("Alarmerne er kvitteret." if count else "Ingen alarmer at kvittere for.")

    def action_letters(self) -> None:
        self.app.push_screen(LettersScreen())

    async def action_join(self) -> None:
        cid = self.console.last_escalation
        if cid is None:
            self.notify("Ingen kollega har bedt om hjælp.", severity="warning")
            return
        self.console.alerter.acknowledge(cid)
        self.console.opening = await self.console.send_frame({"type": "chat.join", "conversation": cid})

    def action_focus_queue(self) -> None:
        self.query_one(QueueList).focus()

    def action_switch(self, number: int) -> None:
        ids = self.console.state.open_ids()
        if 1 <= number <= len(ids):
            self.activate(ids[number - 1])
        else:
            self.notify(f"Der er ingen samtale nr. {number}.", severity="warning")

    async def action_canned(self) -> None:
        conv = self._active()
        if conv is None:
            return
        cid = conv.id

        def chosen(text: object) -> None:
            pane = self.pane(cid)
            if isinstance(text, str) and text and pane is not None:
                pane.composer.value = text
                pane.composer.cursor_position = len(text)
                pane.composer.focus()

        self.app.push_screen(CannedDialog(self.console.state.canned), chosen)

    def action_note(self) -> None:
        conv = self._active()
        pane = self.pane(conv.id) if conv else None
        if pane is not None:
            pane.query_one(".note-input", Input).focus()

    def action_transfer(self) -> None:
        conv = self._active()
        if conv is None:
            return
        cid = conv.id

        async def chosen(choice: object) -> None:
            if isinstance(choice, TransferChoice):
                frame: dict[str, Any] = {"type": "chat.transfer", "conversation": cid, "note": choice.note}
                if choice.to:
                    frame["to"] = choice.to
                await self.console.send_frame(frame)

        self.app.push_screen(TransferDialog(conv.pseudonym, self.console.state.others_on_duty()), chosen)

    def action_escalate(self) -> None:
        conv = self._active()
        if conv is None:
            return
        cid = conv.id

        async def chosen(note: object) -> None:
            if isinstance(note, str):
                frame: dict[str, Any] = {"type": "chat.escalate", "conversation": cid}
                if note:
                    frame["note"] = note
                if await self.console.send_frame(frame):
                    escalated = self.console.state.conversations.get(cid)
                    if escalated is not None:
                        escalated.escalated = True
                    self.notify("Medarbejderne på vagt er kaldt. Bliv i samtalen.", severity="warning")
                    self.refresh_conversation(cid)

        self.app.push_screen(EscalateDialog(conv.pseudonym), chosen)

    def action_end(self) -> None:
        conv = self._active()
        if conv is None:
            return
        cid = conv.id

        async def chosen(choice: object) -> None:
            if isinstance(choice, EndChoice):
                frame: dict[str, Any] = {"type": "chat.end", "conversation": cid, "topic": choice.topic}
                if choice.outcome:
                    frame["outcome"] = choice.outcome
                await self.console.send_frame(frame)

        self.app.push_screen(EndDialog(conv.pseudonym, self.console.state.topics, conv.topic), chosen)

    def action_block(self) -> None:
        conv = self._active()
        if conv is None:
            return
        cid = conv.id

        async def chosen(choice: object) -> None:
            if isinstance(choice, tuple):
                hours, reason = choice
                await self.console.send_frame({"type": "chat.block", "conversation": cid, "hours": hours,
                                               "reason": reason})

        self.app.push_screen(BlockDialog(conv.pseudonym), chosen)

    # ---------------------------------------------------------------- calls (docs/api.md section 9)

    def _call_target(self) -> str | None:
        """The call the keys c and x mean: the highlighted one in the queue if it is a call, else the
        first call ringing here, else the first call in the queue."""
        state = self.console.state
        queue = self.query_one(QueueList)
        option = queue.highlighted_option
        if queue.has_focus and option is not None and option.id:
            item = next((i for i in state.queue if i.conversation == option.id), None)
            if item is not None and item.kind == "call":
                return item.conversation
        if state.ringing:
            return next(iter(state.ringing))
        return next((i.conversation for i in state.queue if i.kind == "call"), None)

    async def accept_call(self, conversation: str) -> None:
        """``call.accept`` with a link for the tablet; ``call.accepted`` opens the QR code."""
        self.console.alerter.acknowledge(conversation, kinds=("call", "new"))
        if await self.console.send_frame({"type": "call.accept", "conversation": conversation, "device": "link"}):
            self.notify(f"Tager opkaldet fra {self.console.pseudonym(conversation)} …", markup=False)
        self.refresh_status()

    async def action_accept_call(self) -> None:
        cid = self._call_target()
        if cid is None:
            self.notify("Der er intet opkald at tage.", severity="warning")
            return
        await self.accept_call(cid)

    def action_decline_call(self) -> None:
        cid = self._call_target()
        if cid is None:
            self.notify("Der er intet opkald at afvise.", severity="warning")
            return

        async def chosen(message: object) -> None:
            if isinstance(message, str) and message:
                await self.console.send_frame({"type": "call.decline", "conversation": cid, "message": message})

        self.app.push_screen(DeclineDialog(self.console.pseudonym(cid), self.console.decline_messages()), chosen)

    def action_call_link(self) -> None:
        """Show the open call's link again (a new one is one key away there)."""
        state = self.console.state
        cid = state.active if state.active in state.links else next(reversed(state.links), None)
        if cid is None:
            self.notify("Du har ikke taget et opkald.", severity="warning")
            return
        self.console.show_call_link(state.links[cid])

    async def start_callback(self, conversation: str) -> None:
        """``callback.start``: the citizen's page rings; when they answer, the QR code opens."""
        if await self.console.send_frame({"type": "callback.start", "conversation": conversation,
                                          "device": "link"}):
            self.event_line(f"Ringer til {self.console.pseudonym(conversation)} …")

    def action_callbacks(self) -> None:
        callbacks = self.query_one(CallbackList)
        if not self.console.state.callbacks:
            self.notify("Ingen har bedt om at blive ringet op.", severity="warning")
            return
        callbacks.focus()

    def action_roster(self) -> None:
        self.app.push_screen(RosterScreen())

    def action_handover(self) -> None:
        self.app.push_screen(HandoverScreen())
