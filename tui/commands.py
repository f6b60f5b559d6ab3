"""Ctrl+P: the console's commands in Textual's command palette."""
from __future__ import annotations

from functools import partial
from typing import Any, Awaitable, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.screens.main import MainScreen


class ConsoleCommands(Provider):
    """Every action of the main screen, plus "take <name>" and "go to <name>" for each chat and call,
    and "call <name> back" for each call-back request."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        screen = self.screen
        app: Any = self.app
        commands: list[tuple[str, Callable[[], Any], str]] = [("Hjælp: alle taster", app.action_help, "F1")]
        if not isinstance(screen, MainScreen):
            return commands
        run = screen.run_action
        commands += [
            ("Tag den næste i køen", partial(run, "take_next"), "mellemrum / n"),
            ("Vagt: gå på vagt eller af vagt", partial(run, "toggle_duty"), "o"),
            ("Kvittér for alarmer", partial(run, "acknowledge"), "a"),
            ("Standardsvar", partial(run, "canned"), "F2"),
            ("Privat note", partial(run, "note"), "F3"),
            ("Overdrag samtalen (kollega eller køen)", partial(run, "transfer"), "F4"),
            ("Brug for hjælp: tilkald en medarbejder", partial(run, "escalate"), "F5"),
            ("Afslut samtalen", partial(run, "end"), "F6"),
            ("Blokér borgeren (med udløb)", partial(run, "block"), "F7"),
            ("Brevkassen", partial(run, "letters"), "l"),
            ("Gå ind og hjælp en kollega", partial(run, "join"), "j"),
            ("Tag opkaldet (QR-kode til tabletten)", partial(run, "accept_call"), "c"),
            ("Afvis opkaldet med en kort besked", partial(run, "decline_call"), "x"),
            ("Vis linket til opkaldet igen", partial(run, "call_link"), "k"),
            ("Ring tilbage: listen over opkald, der venter", partial(run, "callbacks"), "r"),
            ("Vagtplan: hvem er på vagt", partial(run, "roster"), "v"),
            ("Overlevering: noter til næste vagt", partial(run, "handover"), "h"),
            ("Nyt videorum", app.action_new_room, "rum + invitation"),
            ("Invitér til videorum", app.action_invite_room, "nyt link til et åbent rum"),
            ("Afslut konsollen", app.action_ask_quit, "Ctrl+Q"),
        ]
        state = app.state
        for i, cid in enumerate(state.open_ids(), start=1):
            conv = state.conversations[cid]
            commands.append((f"Gå til samtalen med {conv.pseudonym}", partial(screen.activate, cid),
                             f"Alt+{i}" if i <= 9 else ""))
        for item in state.queue:
            what = "opkaldet fra" if item.kind == "call" else ""
            commands.append((f"Tag {what + ' ' if what else ''}{item.pseudonym} fra køen",
                             partial(screen.take, item.conversation), "RISIKO" if item.risk else ""))
        for callback in state.callbacks:
            commands.append((f"Ring tilbage til {callback.pseudonym}", partial(screen.start_callback,
                                                                                callback.conversation),
                             "ringer nu" if callback.ringing else ""))
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, _runner(callback), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), _runner(callback), text=name, help=help_text)


def _runner(callback: Callable[[], Any]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        result = callback()
        if hasattr(result, "__await__"):
            await result
    return run
