"""The queue, in the node's order (risk first, then longest wait): chats and calls mixed, each
labelled with its kind. Space or n takes the next."""
from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.calls import media_label
from tui.state import QueueItem
from tui.widgets.format import waited


class QueueList(OptionList):
    """One line per waiting person; Enter takes the highlighted one, Space/n the next in order."""

    BINDINGS = [
        Binding("space", "take_next", "Tag næste"),
        Binding("n", "take_next", "Tag næste", show=False),
    ]

    class Take(Message):
        """Take a chat: ``conversation`` None means the next in queue order."""

        def __init__(self, conversation: str | None) -> None:
            super().__init__()
            self.conversation = conversation

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.items: list[QueueItem] = []
        self.lines: list[str] = []

    def show(self, items: list[QueueItem], now: float) -> None:
        keep = self.highlighted_option.id if self.highlighted_option is not None else None
        self.items = list(items)
        options = []
        self.lines = []
        for item in items:
            text = Text()
            if item.kind == "call":
                text.append(f"OPKALD {media_label(item.media or '')} ", style="bold magenta")
            else:
                text.append("chat ", style="dim")
            if item.risk:
                text.append(" RISIKO ", style="bold white on red")
                text.append(" ")
            text.append(item.pseudonym, style="bold")
            if item.topic:
                text.append(f" · {item.topic}")
            text.append(f" · venter {waited(item.waited(now))}")
            if item.messages:
                text.append(f" · {item.messages} besked{'er' if item.messages != 1 else ''}")
            if item.citizen != "connected":
                text.append(" · forbindelse tabt", style="italic")
            self.lines.append(text.plain)
            options.append(Option(text, id=item.conversation))
        self.set_options(options)
        ids = [i.conversation for i in items]
        if keep in ids:
            self.highlighted = ids.index(keep)
        elif items:
            self.highlighted = 0

    def action_take_next(self) -> None:
        self.post_message(self.Take(None))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Take(event.option.id))
