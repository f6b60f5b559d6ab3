"""``ConsoleApp``: the Textual console for volunteers and night staff (``fristed console [URL]``).

The app holds the connection, the state and the alerter, and turns node frames into screen
updates and alerts. The chat actions live on :class:`tui.screens.main.MainScreen`.
"""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from tui.alerts import DEFAULT_REPEAT, Alerter, TerminalSignals, Writer
from tui.calls import CallLink, Ring, media_label, ring_stop_text
from tui.client import (ClientEvent, Connected, Disconnected, FrameReceived, Identity, IdentityChanged,
                        LoginError, NodeClient, NotConnected, ProbeError, SessionEnded, check_url, probe_identity)
from tui.commands import ConsoleCommands
from tui.pinning import KnownNodes, PinStatus, PinStoreError, node_key, normalise
from tui.screens.calls import CallLinkScreen
from tui.screens.dialogs import OpenChatsDialog, TransferChoice
from tui.screens.handover import HandoverScreen
from tui.screens.help import HelpScreen
from tui.screens.letters import LettersScreen
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen
from tui.screens.picker import NodePickerScreen
from tui.screens.pin import PinWarningScreen
from tui.screens.roster import RosterScreen
from tui.screens.rooms import RoomDialog
from tui.state import CLOSED_DA, ERRORS_DA, Change, ConsoleState
from tui.widgets.format import clock

DISCONNECT_ALARM_S = 30.0  # on duty and offline this long: ring, the console can no longer ring for chats


class NodeEvent(Message):
    """A :class:`tui.client.ClientEvent`, delivered through Textual's message queue."""

    def __init__(self, event: ClientEvent) -> None:
        super().__init__()
        self.event = event


class ConsoleApp(App[int]):
    """The console. Everything that touches the outside world can be injected for tests."""

    CSS_PATH = Path(__file__).with_name("console.tcss")  # absolute: subclasses elsewhere keep the look
    TITLE = "fristed konsol"
    BINDINGS = [
        Binding("ctrl+q", "ask_quit", "Afslut", priority=True),
        Binding("f1", "help", "Hjælp"),
    ]
    COMMANDS = App.COMMANDS | {ConsoleCommands}

    def __init__(self, url: str | None = None, *, pins: KnownNodes | None = None, writer: Writer | None = None,
                 env: Mapping[str, str] | None = None, interfaces: list[str] | None = None,
                 alert_repeat: float = DEFAULT_REPEAT, backoff: tuple[float, float] = (0.5, 10.0),
                 heartbeat: float = 15.0, wallclock: Callable[[], float] = time.time,
                 expected_fingerprint: str | None = None, offline_alarm: float = DISCONNECT_ALARM_S) -> None:
        super().__init__()
        self.offline_alarm = offline_alarm
        self.start_url, self.expected_fingerprint = url, expected_fingerprint
        self.pins = pins or KnownNodes()
        self.interfaces = interfaces
        self.backoff, self.heartbeat, self.wallclock = backoff, heartbeat, wallclock
        self.state = ConsoleState()
        self.signals = TerminalSignals(writer or self._write_terminal, dict(env if env is not None else os.environ))
        self.alerter = Alerter(self.signals, self._toast, alert_repeat)
        self.client: NodeClient | None = None
        self.identity: Identity | None = None
        self.node_url = ""
        self.node_name = ""
        self.connected = False
        self.down_text = ""
        self.main: MainScreen | None = None
        self.last_escalation: str | None = None
        self.opening = False  # a chat.take or chat.join is under way: open its chat.opened at once
        self.quitting = False
        self.down_since_monotonic: float | None = None  # for the "console is offline" alarm
        self.resync = False   # after a reconnect: ask for every open chat again (``chat.open``)
        self.requested: set[str] = set()  # chat.open sent, chat.opened not yet seen
        self.gaps: list[tuple[float, float]] = []
        self.greet_handover = False  # at login and at duty start: open the handover notes if there are new ones
        self.handover_seen: set[int | str] = set()  # notes this console has shown

    def compose(self) -> ComposeResult:
        yield Static("fristed konsol", id="boot", markup=False)

    def on_mount(self) -> None:
        self.set_interval(min(1.0, self.alerter.repeat / 3), self._tick_alerts)
        if self.start_url:
            self.call_later(self.open_node, self.start_url, self.expected_fingerprint)
        else:
            self.push_screen(NodePickerScreen(self.pins, self.interfaces))

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()

    # ---------------------------------------------------------------- terminal output

    def _write_terminal(self, sequence: str) -> None:
        """Bell and OSC 9 go through Textual's driver: the same ordered stream as the screen."""
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(sequence)

    def _toast(self, text: str, severity: str) -> None:
        self.notify(text, title="Alarm", severity=severity,  # type: ignore[arg-type]
                    timeout=max(8.0, self.alerter.repeat), markup=False)

    def _tick_alerts(self) -> None:
        down = self.down_since_monotonic
        if (down is not None and self.state.on_duty and not self.quitting
                and time.monotonic() - down >= self.offline_alarm):
            self.alerter.raise_alert(("connection", ""), "Konsollen har ingen forbindelse til noden. "
                                     "Nye samtaler kan ikke ringe her. Tjek netværket.", "error")
        main = self.shown_main
        if self.alerter.tick() and main is not None:
            main.refresh_status()

    # ---------------------------------------------------------------- connecting and logging in

    def _boot(self, text: str) -> None:
        try:
            self.query_one("#boot", Static).update(text)
        except Exception:
            pass

    async def open_node(self, url: str, expected: str | None = None, name: str = "") -> None:
        """Probe, compare with the pin (and the zeroconf fingerprint), then ask for the login."""
        can_go_back = isinstance(self.screen, NodePickerScreen)
        try:
            url = check_url(url)
            self._boot(f"Forbinder til {url} …")
            identity = await probe_identity(url)
        except ProbeError as exc:
            self._boot(str(exc))
            self.notify(str(exc), title="Kan ikke forbinde", severity="error", markup=False)
            if len(self.screen_stack) == 1:  # started with a URL that does not answer: offer the list
                self.push_screen(NodePickerScreen(self.pins, self.interfaces))
            return
        key = node_key(url)
        first_use = False
        if identity.kind != "none":
            if expected and normalise(expected) != identity.fingerprint:
                self.push_screen(PinWarningScreen(key, normalise(expected), identity.fingerprint, "zeroconf",
                                                  str(self.pins.path), can_go_back))
                return
            try:
                status = self.pins.check(key, identity.fingerprint)
                if status is PinStatus.CHANGED:
                    known = self.pins.get(key)
                    self.push_screen(PinWarningScreen(key, known.fingerprint if known else "?",
                                                      identity.fingerprint, "pin", str(self.pins.path),
                                                      can_go_back))
                    return
                first_use = status is PinStatus.NEW
                self.pins.remember(key, identity.fingerprint, name)
            except PinStoreError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
        self.identity, self.node_url, self.node_name = identity, url, name or key
        if self.client is not None:
            await self.client.close()
        self.client = NodeClient(url, identity, self._client_event, backoff=self.backoff,
                                 heartbeat=self.heartbeat, wallclock=self.wallclock)
        self.push_screen(LoginScreen(url, identity.fingerprint, first_use))

    async def login(self, name: str, password: str, code: str) -> str | None:
        """Returns None when logged in, else a Danish reason for the login screen."""
        assert self.client is not None
        try:
            body = await self.client.login(name, password, code)
        except LoginError as exc:
            if exc.code == "locked":
                return f"For mange forsøg. Prøv igen om {int(exc.retry_after) or 60} sekunder."
            if exc.code == "certificate":
                return "Nodens certifikat passer ikke med det huskede. Log ikke ind; kontakt IT."
            if exc.code == "unreachable":
                return "Noden svarer ikke. Tjek netværket og prøv igen."
            return "Login mislykkedes. Tjek navn, adgangskode og den 6-cifrede kode (en ny kode hvert 30. sekund)."
        account = body.get("account") or {}
        self.state.name, self.state.role = account.get("name"), account.get("role")
        canned = await self.client.get_json("/api/chat/canned") or {}
        status = await self.client.get_json("/api/chat/status") or {}
        self.state.canned = [c for c in canned.get("canned", []) if isinstance(c, dict)]
        self.state.topics = [t for t in status.get("topics", []) if isinstance(t, str)] or ["Andet"]
        if isinstance(status.get("in_hours"), bool):
            self.state.in_hours = status["in_hours"]
        messages = canned.get("decline_messages")
        if isinstance(messages, list):
            self.state.decline_messages = [m for m in messages if isinstance(m, str) and m.strip()]
        self.greet_handover = True
        if self.main is None:
            while len(self.screen_stack) > 1:
                self.pop_screen()
            self.main = MainScreen()
            await self.push_screen(self.main)
        else:
            self.pop_screen()  # the login screen shown after the session ended
        self.run_worker(self.client.run(), name="node-websocket", group="websocket", exclusive=True,
                        exit_on_error=False)
        return None

    def _client_event(self, event: ClientEvent) -> None:
        self.post_message(NodeEvent(event))

    # ---------------------------------------------------------------- node events

    async def on_node_event(self, message: NodeEvent) -> None:
        event = message.event
        if self.quitting:
            return
        main = self.shown_main
        if isinstance(event, Connected):
            self.connected, self.down_text = True, ""
            self.down_since_monotonic = None
            self.alerter.acknowledge(kinds=("connection",))
            self.requested.clear()
            self.state.apply(event.welcome)
            if self.greet_handover:
                await self.send_frame({"type": "handover.list"}, quiet=True)
            if event.down_since is not None:
                self.gaps.append((event.down_since, event.at))
                text = f"Forbindelsen var væk {clock(event.down_since)}–{clock(event.at)}"
                self.state.mark_gap(event.at, text)
                self.resync = True  # the node's ``mine`` follows; then every chat is fetched again
                self.notify(text + ". Noden sender nu køen og dine samtaler igen.", severity="warning",
                            markup=False)
                if main is not None:
                    main.event_line(text)
                    for cid in self.state.open_ids():
                        main.refresh_conversation(cid)
            if main is not None:
                main.refresh_status()
        elif isinstance(event, Disconnected):
            self.connected = False
            self.down_since_monotonic = time.monotonic()
            self.down_text = f"Forbindelsen er væk siden {clock(event.at)} – prøver igen …"
            self.notify("Forbindelsen til noden er væk. Konsollen prøver igen af sig selv.",
                        severity="error", markup=False)
            if main is not None:
                main.refresh_status()
        elif isinstance(event, FrameReceived):
            await self.handle_frame(event.frame)
        elif isinstance(event, SessionEnded):
            self.connected = False
            self.down_text = "Logget ud"
            if main is not None:
                main.refresh_status()
            self.push_screen(LoginScreen(self.node_url, self.identity.fingerprint if self.identity else "",
                                         False, event.reason))
        elif isinstance(event, IdentityChanged):
            self.connected = False
            self.down_text = "Afvist: andet certifikat"
            self.push_screen(PinWarningScreen(node_key(self.node_url), event.expected, event.got, "pin",
                                              str(self.pins.path), can_go_back=False))

    async def handle_frame(self, frame: dict[str, Any]) -> None:
        for change in self.state.apply(frame):
            await self._show(change)

    def roster_screen(self) -> RosterScreen | None:
        """The open roster, even under a dialog of its own."""
        return next((s for s in reversed(self.screen_stack) if isinstance(s, RosterScreen)), None)

    def pseudonym(self, cid: str | None) -> str:
        if cid is None:
            return "?"
        return self.state.pseudonym_of(cid) or "en borger"

    def decline_messages(self) -> list[str]:
        """The centre's short messages for declining a call (the node's defaults if unknown)."""
        return self.state.decline_messages

    @property
    def shown_main(self) -> MainScreen | None:
        """The main screen once it is mounted and until it is detached, else None. Before its mount
        (frames can come first) nothing is drawn on it: its on_mount draws the whole state."""
        main = self.main
        return main if main is not None and main.is_attached and main.is_mounted else None

    async def _show(self, change: Change) -> None:
        main, state, cid = self.shown_main, self.state, change.conversation
        kind = change.kind
        if kind == "queue":
            if state.on_duty:
                for item in change.data["new"]:
                    if item.kind == "call":  # normally call.ring rang already: the same alert, not a second
                        self._alert_call(item.conversation, item.media or "", item.risk, 0)
                    else:
                        self._alert_new(item.conversation, item.risk, None)
            for gone in change.data["gone"]:
                self.alerter.acknowledge(gone, kinds=("new", "call"))
        elif kind == "duty" and not state.on_duty:
            self.alerter.acknowledge(kinds=("new",))
        elif kind == "duty" and change.data["started"]:
            self.greet_handover = True
            await self.send_frame({"type": "handover.list"}, quiet=True)
        elif kind == "ring":
            ring: Ring = change.data["ring"]
            self._alert_call(ring.conversation, ring.media, ring.risk, ring.level)
        elif kind == "ring_stop" and cid is not None:
            self.alerter.acknowledge(cid, kinds=("call", "new"))
            reason, by = change.data["reason"], change.data["by"]
            if not (reason == "accepted" and by == state.name):  # my own answer shows its QR code
                self.notify(ring_stop_text(reason, by, self.pseudonym(cid), state.name), markup=False)
        elif kind == "link" and cid is not None:
            self.alerter.acknowledge(cid, kinds=("call", "new"))
            if main is not None:
                main.event_line("")
            self.show_call_link(change.data)
        elif kind == "declined":
            self.notify(f"Opkaldet fra {self.pseudonym(cid)} er afvist. Borgeren har fået din besked.",
                        markup=False)
        elif kind == "callback_ringing":
            text = f"Ringer til {self.pseudonym(cid)} … Når borgeren tager den, kommer QR-koden frem."
            self.notify(text, markup=False)
            if main is not None:
                main.event_line(text)
        elif kind == "callback_unanswered":
            text = (f"{self.pseudonym(cid)} tog ikke telefonen (forsøg {change.data} af 3). "
                    "Prøv igen senere med r.")
            self.notify(text, severity="warning", markup=False)
            if main is not None:
                main.event_line(text)
        elif kind == "handover":
            if isinstance(self.screen, HandoverScreen):
                self.screen.show(state.handover)
            elif self.greet_handover and main is not None and \
                    any(note.id not in self.handover_seen for note in state.handover):
                self.push_screen(HandoverScreen(greeting=True))
            self.greet_handover = False
        elif kind == "roster" and (roster_screen := self.roster_screen()) is not None:
            roster_screen.show(state.roster)  # type: ignore[arg-type]
        elif kind == "mine":
            await self._sync_mine(change.data["missing"], change.data["stale"])
        elif kind == "opened" and cid is not None:
            self.requested.discard(cid)
            self.alerter.acknowledge(cid, kinds=("new", "transfer", "escalation"))
            if main is not None:
                # what I took or joined opens at once; a transfer to me never pulls me out of another chat
                activate = not change.data["reopened"] and (self.opening or state.active is None)
                await main.add_conversation(state.conversations[cid], activate=activate)
            self.opening = False
            missed = change.data["missed"]
            if missed:
                self.notify(f"{missed} besked{'er' if missed != 1 else ''} fra {self.pseudonym(cid)}, "
                            "mens forbindelsen var væk.", severity="warning", markup=False)
        elif kind == "closed" and cid is not None:
            self.alerter.acknowledge(cid)
            conv = change.data.get("conversation")
            reason = CLOSED_DA.get(change.data.get("reason", ""), change.data.get("reason", ""))
            if main is not None:
                await main.remove_conversation(cid)
            self.notify(f"Samtalen med {conv.pseudonym if conv else 'borgeren'} er {reason}.", markup=False)
        elif kind == "message" and cid is not None and cid != state.active and change.data.sender == "citizen":
            self.signals.bell()  # a message in a chat you are not looking at (irssi/WeeChat style beep)
        elif kind == "presence" and cid is not None and change.data == "left":
            self.notify(f"{self.pseudonym(cid)} har forladt samtalen. Afslut den med F6.", severity="warning",
                        markup=False)
        elif kind == "alert":
            self._alert_frame(change.data)
        elif kind == "letters" and isinstance(self.screen, LettersScreen):
            self.screen.show(state.letters)
        elif kind == "error":
            code = str(change.data.get("code", ""))
            roster_screen = self.roster_screen()
            if code == "has_open_chats" and main is not None:
                main.ask_open_chats(quitting=False)
            elif roster_screen is not None and roster_screen.refused(change.data):
                pass  # a refused roster.add or roster.remove: the roster says why
            else:
                text = ERRORS_DA.get(code) or f"Noden afviste det: {change.data.get('reason', code)}"
                self.notify(text, severity="warning", markup=False)
        if main is None:
            return
        if kind in ("queue", "duty", "welcome"):
            main.refresh_queue()
        elif kind in ("ring", "ring_stop", "link", "declined", "callback_ringing", "callback_unanswered", "roster"):
            main.refresh_calls()
        if kind in ("message", "ack", "deleted", "typing", "presence", "note", "opened", "alert") and cid:
            main.refresh_conversation(cid)
        if kind in ("mine", "message", "presence", "opened", "closed"):
            main.refresh_mine()
        main.refresh_status()

    async def _sync_mine(self, missing: list[str], stale: list[str]) -> None:
        """Fetch chats that are mine but not shown (console restart, second device) and, after a
        reconnect, every open chat again, so messages that came while we were away appear."""
        wanted = list(missing)
        if self.resync:
            wanted = [str(c.get("conversation")) for c in self.state.mine]
            self.resync = False
        for cid in wanted:
            if cid not in self.requested:
                self.requested.add(cid)
                await self.send_frame({"type": "chat.open", "conversation": cid}, quiet=True)
        for cid in stale:  # gone from my desk while the console was away (ended, transferred, …)
            conv = self.state.conversations.pop(cid, None)
            if self.state.active == cid:
                self.state.active = None
            self.alerter.acknowledge(cid)
            if self.shown_main is not None:
                await self.shown_main.remove_conversation(cid)
            if conv is not None:
                self.notify(f"Samtalen med {conv.pseudonym} er ikke længere din.", markup=False)

    def _alert_new(self, cid: str, risk: bool, by: str | None) -> None:
        who = self.pseudonym(cid)
        text = (f"RISIKO – {who} venter i køen" if risk else f"{who} venter i køen")
        if by:
            text += f" (sendt tilbage af {by})"
        self.alerter.raise_alert(("new", cid), text + ". Tryk mellemrum for at tage den næste.",
                                 "error" if risk else "warning", cid)

    def _alert_call(self, cid: str, media: str, risk: bool, level: int) -> None:
        """A call rings like nothing else: an error-level alert that repeats until someone answers."""
        who = self.pseudonym(cid)
        text = f"{'RISIKO – ' if risk else ''}OPKALD ({media_label(media)}) fra {who}."
        if level:
            text += " Ingen på vagt har taget det endnu."
        self.alerter.raise_alert(("call", cid), text + " Tryk c for at tage det, x for at afvise.", "error", cid)

    def show_call_link(self, link: CallLink) -> None:
        """Open (or update) the QR code for an answered call."""
        screen = self.screen
        if isinstance(screen, CallLinkScreen) and screen.link.conversation == link.conversation:
            screen.show(link)
            return
        self.push_screen(CallLinkScreen(link, self.pseudonym(link.conversation),
                                        self.state.media_of(link.conversation)))

    def _alert_frame(self, f: dict[str, Any]) -> None:
        kind = f.get("kind")
        cid = str(f["conversation"]) if isinstance(f.get("conversation"), (str, int)) else None
        by = f.get("from") if isinstance(f.get("from"), str) else None
        note = f.get("note") if isinstance(f.get("note"), str) and f.get("note") else None
        risk = f.get("risk") is True
        if kind == "new" and cid:
            self._alert_new(cid, risk, by)
        elif kind == "escalation" and cid:
            self.last_escalation = cid
            text = f"Brug for hjælp: {by or 'en kollega'} beder om en medarbejder i samtalen med " \
                   f"{self.pseudonym(cid)}. Tryk j for at gå ind."
            if note:
                text += f" Besked: {note}"
            self.alerter.raise_alert(("escalation", cid), text, "error", cid)
        elif kind == "transfer" and cid:
            text = f"{by or 'En kollega'} har overdraget {self.pseudonym(cid)} til dig."
            if note:
                text += f" Note: {note}"
            self.alerter.raise_alert(("transfer", cid), text, "error" if risk else "warning", cid)
        elif kind == "letter":
            self.alerter.raise_alert(("letter", cid or ""), "Nyt brev i brevkassen. Tryk l for at læse.",
                                     "information", cid)

    # ---------------------------------------------------------------- sending

    async def send_frame(self, frame: dict[str, Any], quiet: bool = False) -> bool:
        if self.client is None:
            return False
        try:
            await self.client.send(frame)
            return True
        except NotConnected:
            if not quiet:
                self.notify("Ikke forbundet til noden. Prøv igen, når forbindelsen er tilbage.",
                            severity="error", markup=False)
            return False

    async def client_send_message(self, conversation: str, text: str) -> str:
        assert self.client is not None
        client_id = await self.client.send_message(conversation, text)
        if not self.connected:
            self.notify("Beskeden sendes, når forbindelsen er tilbage.", severity="warning", markup=False)
        return client_id

    # ---------------------------------------------------------------- help and quitting

    def action_new_room(self) -> None:
        """"Nyt videorum": make a room and a single-use guest link, shown with a QR code."""
        if self.client is None or not self.client.token:
            self.notify("Log ind først.", severity="warning")
            return
        self.push_screen(RoomDialog(self.client, "new"))

    def action_invite_room(self) -> None:
        """"Invitér til videorum": a new single-use guest link to one of the open rooms."""
        if self.client is None or not self.client.token:
            self.notify("Log ind først.", severity="warning")
            return
        self.push_screen(RoomDialog(self.client, "invite"))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(admin=self.state.role == "admin"))

    async def action_ask_quit(self) -> None:
        owned = [c for c in self.state.conversations.values() if c.role != "helper"]
        if self.main is not None and owned:
            if not isinstance(self.screen, OpenChatsDialog):
                self.main.ask_open_chats(quitting=True)
            return
        await self.finish()

    async def quit_after_handover(self, choice: TransferChoice) -> None:
        """Transfer (or requeue) every open chat, wait for the node to confirm, then quit."""
        # only chats I own: a helper leaving must not move the owner's chat (the protocol has no
        # "step out as helper"; the node keeps the helper assignment)
        owned = [cid for cid, conv in self.state.conversations.items() if conv.role != "helper"]
        for cid in owned:
            frame: dict[str, Any] = {"type": "chat.transfer", "conversation": cid, "note": choice.note}
            if choice.to:
                frame["to"] = choice.to
            if not await self.send_frame(frame):
                return
        for _ in range(50):
            if not any(cid in self.state.conversations for cid in owned):
                break
            await asyncio.sleep(0.1)
        if any(cid in self.state.conversations for cid in owned):
            self.notify("Noden bekræftede ikke overdragelsen. Konsollen er stadig åben.", severity="error",
                        markup=False)
            return
        await self.finish()

    async def finish(self) -> None:
        """Log out (the token is only in memory) and quit."""
        self.quitting = True
        if self.client is not None:
            await self.client.stop()  # no reconnect, no "logged out" screen for our own logout
            await self.client.logout()
            await self.client.close()
        self.exit(0)
