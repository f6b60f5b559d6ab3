"""One open conversation: messages, typing indicator, composer, and the private notes beside it."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Static

from tui.state import ChatMessage, Conversation, LocalLine
from tui.state import PRESENCE_DA
from tui.widgets.format import clock

TYPING_SHOWN_S = 8.0


def pane_id(conversation: str) -> str:
    """A widget id for any conversation id."""
    return "c" + conversation.encode("utf-8").hex()


def render_entries(conv: Conversation, me: str | None) -> Text:
    text = Text()
    for entry in conv.entries:
        if isinstance(entry, LocalLine):
            text.append(f"── {entry.text} ──\n", style="bold yellow")
            continue
        assert isinstance(entry, ChatMessage)
        stamp = clock(entry.ts)
        if entry.sender == "citizen":
            who, style = conv.pseudonym, "bold cyan"
        elif entry.sender == "staff":
            who, style = (entry.author or "personale"), "bold green"
            if entry.author == me:
                who = f"{who} (dig)"
        else:
            who, style = "system", "italic"
        text.append(f"{stamp} ")
        text.append(who, style=style)
        if entry.missed:
            text.append(" [mens du var væk]", style="yellow")
        text.append(": ")
        if entry.deleted:
            text.append("(slettet)", style="italic dim")
        else:
            text.append(entry.text)
        if entry.failed:
            text.append(f"  (ikke sendt: {entry.failed})", style="bold red")
        elif entry.id is None:
            text.append("  (sender…)", style="dim")
        text.append("\n")
    text.rstrip()
    return text


class NotesPanel(Vertical):
    """Private notes: only staff on the conversation see them; never sent to the citizen."""

    class Add(Message):
        def __init__(self, conversation: str, text: str) -> None:
            super().__init__()
            self.conversation, self.text = conversation, text

    def __init__(self, conversation: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.conversation = conversation
        self.plain = ""

    def compose(self) -> ComposeResult:
        yield Static("Private noter (borgeren ser dem aldrig)", classes="panel-title", markup=False)
        with VerticalScroll(classes="notes-scroll"):
            yield Static("", classes="notes", markup=False)
        yield Input(placeholder="Skriv en note… (Enter gemmer)", max_length=2000, classes="note-input")

    def show(self, conv: Conversation) -> None:
        text = Text()
        for note in conv.notes:
            text.append(f"{clock(note.ts)} {note.author}: ", style="bold")
            text.append(note.text + "\n")
        text.rstrip()
        self.plain = text.plain
        self.query_one(".notes", Static).update(text if conv.notes else Text("Ingen noter endnu.", style="dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if value:
            self.post_message(self.Add(self.conversation, value))
            event.input.value = ""


class ConversationPane(Vertical):
    """Header, message log, notes, typing line and composer for one conversation."""

    class Send(Message):
        def __init__(self, conversation: str, text: str) -> None:
            super().__init__()
            self.conversation, self.text = conversation, text

    class Typing(Message):
        def __init__(self, conversation: str) -> None:
            super().__init__()
            self.conversation = conversation

    class CannedWanted(Message):
        def __init__(self, conversation: str) -> None:
            super().__init__()
            self.conversation = conversation

    def __init__(self, conversation: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.conversation = conversation
        self.plain = ""
        self.header_plain = ""
        self.typing_plain = ""

    def compose(self) -> ComposeResult:
        yield Static("", classes="conv-header", markup=False)
        with Horizontal(classes="conv-body"):
            with VerticalScroll(classes="log-scroll"):
                yield Static("", classes="log", markup=False)
            yield NotesPanel(self.conversation, classes="notes-panel")
        yield Static("", classes="typing", markup=False)
        yield Input(placeholder="Skriv til borgeren… (Enter sender · :: standardsvar · F3 note)",
                    max_length=2000, classes="composer")

    @property
    def composer(self) -> Input:
        return self.query_one(".composer", Input)

    def show(self, conv: Conversation, me: str | None, now: float) -> None:
        header = Text()
        if conv.kind == "call":
            header.append(" OPKALD ", style="bold white on dark_magenta")
            header.append(" ")
        if conv.risk:
            header.append(" RISIKO ", style="bold white on red")
            header.append(" ")
        header.append(conv.pseudonym, style="bold")
        if conv.topic:
            header.append(f" · {conv.topic}")
        if conv.kind != "call":  # an answered caller has left the call socket for the room: no presence here
            header.append(f" · borger: {PRESENCE_DA.get(conv.citizen, conv.citizen)}",
                          style="" if conv.citizen == "connected" else "bold yellow")
        header.append(" · du er " + ("hjælper" if conv.role == "helper" else "ansvarlig"))
        if conv.escalated:
            header.append(" · kollega tilkaldt", style="bold magenta")
        if conv.kind == "call":
            header.append(" · tal i videorummet; k viser linket igen, F6 afslutter opkaldet")
        self.header_plain = header.plain
        self.query_one(".conv-header", Static).update(header)
        composer = self.composer
        if conv.kind == "call" and not composer.disabled:  # the node refuses chat.send for a call
            composer.disabled = True
            composer.placeholder = "Opkald: I taler sammen i videorummet. Skriv private noter til højre."
        body = render_entries(conv, me)
        self.plain = body.plain
        self.query_one(".log", Static).update(body)
        self.query_one(".log-scroll", VerticalScroll).scroll_end(animate=False)
        self.query_one(NotesPanel).show(conv)
        self.show_typing(conv, now)

    def show_typing(self, conv: Conversation, now: float) -> None:
        active = conv.typing and now - conv.typing_at < TYPING_SHOWN_S
        self.typing_plain = f"{conv.pseudonym} skriver…" if active else ""
        self.query_one(".typing", Static).update(self.typing_plain)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.input.has_class("composer"):
            return
        event.stop()
        value = event.value.strip()
        if value == "::":
            event.input.value = ""
            self.post_message(self.CannedWanted(self.conversation))
            return
        if value:
            self.post_message(self.Send(self.conversation, value))
            event.input.value = ""

    def on_input_changed(self, event: Input.Changed) -> None:
        if not event.input.has_class("composer"):
            return
        event.stop()
        if event.value.endswith("::") and event.value.strip() == "::":
            event.input.value = ""
            self.post_message(self.CannedWanted(self.conversation))
        elif event.value:
            self.post_message(self.Typing(self.conversation))
