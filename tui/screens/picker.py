"""With no URL: list the nodes zeroconf finds, or let the user type an address."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.discovery import FoundNode, NodeBrowser
from tui.pinning import KnownNodes, PinStatus, PinStoreError, node_key
from tui.widgets.format import short_fingerprint


class NodePickerScreen(Screen[None]):
    """Choosing a node starts the probe and login (``ConsoleApp.open_node``)."""

    BINDINGS = [Binding("ctrl+r", "rescan", "Søg igen")]

    def __init__(self, pins: KnownNodes, interfaces: list[str] | None = None) -> None:
        super().__init__()
        self.pins, self.interfaces = pins, interfaces
        self.nodes: list[FoundNode] = []
        self.browser: NodeBrowser | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static("Vælg node", classes="dialog-title", markup=False)
            yield Static("Søger efter noder på netværket…", id="picker-status", markup=False)
            yield OptionList(id="nodes")
            yield Static("Eller skriv adressen (fx https://fristed.local:8443):", markup=False)
            yield Input(placeholder="https://…", id="url")
        yield Footer()

    async def on_mount(self) -> None:
        await self._start()

    async def _start(self) -> None:
        self.browser = NodeBrowser(self._found, interfaces=self.interfaces)
        try:
            await self.browser.start()
        except OSError as exc:
            self.query_one("#picker-status", Static).update(
                f"Kan ikke søge på netværket ({exc}). Skriv adressen nedenfor.")
            self.browser = None

    async def on_unmount(self) -> None:
        if self.browser is not None:
            await self.browser.close()

    async def action_rescan(self) -> None:
        if self.browser is not None:
            await self.browser.close()
        self.nodes = []
        self.query_one("#nodes", OptionList).clear_options()
        await self._start()

    def _label(self, node: FoundNode) -> Text:
        text = Text()
        text.append(node.name, style="bold")
        text.append(f"  {node.address}:{node.port}  ")
        try:
            status = self.pins.check(node_key(node.url), node.fingerprint) if node.fingerprint else None
        except PinStoreError:
            status = None
        if status is PinStatus.MATCH:
            text.append("kendt", style="green")
        elif status is PinStatus.CHANGED:
            text.append("ANDET CERTIFIKAT END SIDST", style="bold white on red")
        else:
            text.append("ny", style="yellow")
        text.append(f"  {short_fingerprint(node.fingerprint)}", style="dim")
        return text

    def _found(self, nodes: list[FoundNode]) -> None:
        self.nodes = nodes
        options = [Option(self._label(n), id=f"n{i}") for i, n in enumerate(nodes)]
        listing = self.query_one("#nodes", OptionList)
        listing.set_options(options)
        if options:
            listing.highlighted = 0
            if not isinstance(self.focused, Input) or not self.focused.value:
                listing.focus()
        self.query_one("#picker-status", Static).update(
            f"Fandt {len(nodes)} node{'r' if len(nodes) != 1 else ''}. Vælg med Enter eller et klik."
            if nodes else "Søger efter noder på netværket…")

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        node = self.nodes[event.option_index]
        await self.app.open_node(node.url, expected=node.fingerprint or None, name=node.name)  # type: ignore[attr-defined]

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            await self.app.open_node(event.value.strip())  # type: ignore[attr-defined]
