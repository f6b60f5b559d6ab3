"""Duty, several chats at once, the command palette, the letterbox, and quitting with open chats."""
from __future__ import annotations

import aiohttp
from textual.command import CommandPalette
from textual.widgets import Input, OptionList

from node.clock import ManualClock
from node.server import RunningNode
from tests.chatclient import citizen
from tests.conftest import base_url, enrol
from tests.tui.conftest import until
from tests.tui.console_helpers import fill, log_in, type_text
from tui.app import ConsoleApp
from tui.pinning import KnownNodes
from tui.screens.dialogs import OpenChatsDialog
from tui.screens.letters import LettersScreen
from tui.widgets.conversation import ConversationPane


async def test_duty_palette_letters_and_quit(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                                            anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    app = ConsoleApp(base_url(node), pins=pins, writer=lambda s: None, env={}, alert_repeat=600)
    async with app.run_test(size=(140, 40)) as pilot:
        await log_in(pilot, app, anna)
        await pilot.press("o")
        await until(lambda: app.state.on_duty, what="on duty")
        lise = await citizen(anon, node.port)
        ole = await citizen(anon, node.port)
        first = (await lise.request("chat.start", "chat.started", name="Lise", danger=False))["conversation"]
        second = (await ole.request("chat.start", "chat.started", name="Ole", danger=True))["conversation"]
        await until(lambda: len(app.state.queue) == 2, what="two waiting")
        assert [i.conversation for i in app.state.queue] == [second, first]  # risk first, as the node sent
        await pilot.press("n")
        await until(lambda: app.state.active == second, what="the risky one first")
        await pilot.press("escape", "n")
        await until(lambda: app.state.active == first, what="then Lise")

        # Alt+1 … Alt+9 switch chats; unread marks clear on viewing
        await ole.request("chat.send", "chat.ack", text="Hallo", client_id="o1")
        await until(lambda: app.state.conversations[second].unread == 1, what="an unread mark")
        await pilot.press("alt+1")
        assert app.state.active == second and app.state.conversations[second].unread == 0
        await pilot.press("alt+2")
        assert app.state.active == first
        await pilot.press("alt+7")  # no such chat: nothing happens
        assert app.state.active == first

        # Ctrl+P: "vagt" goes off duty; the node asks about the open chats; they go back to the queue
        await pilot.press("escape", "ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await type_text(pilot, "vagt")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, OpenChatsDialog), what="the open-chats question")
        choices = app.screen.query_one("#choices", OptionList)
        assert str(choices.get_option_at_index(0).prompt) == "Sæt dem tilbage i køen"
        await pilot.press("enter")
        await until(lambda: not app.state.on_duty and not app.state.conversations, what="off duty, chats requeued")
        await until(lambda: len(app.state.queue) == 2, what="both back in the queue")

        # the letterbox: a letter arrives, Anna answers it, the citizen reads the answer with the code
        writer = await citizen(anon, node.port)
        stored = await writer.request("letter.send", "letter.stored", text="Kan man komme forbi om dagen?")
        await until(lambda: app.state.letters_waiting == 1, what="the letter count")
        await pilot.press("l")
        await until(lambda: isinstance(app.screen, LettersScreen) and app.screen.items, what="the letter list")
        letters = app.screen.query_one("#letters", OptionList)
        letters.highlighted = 0
        letters.focus()
        await pilot.press("enter")
        assert isinstance(app.focused, Input) and app.focused.id == "reply"
        await fill(pilot, app, "Ja, vi har åbent kl. 10-16.")
        await pilot.press("enter")
        await until(lambda: app.state.letters_waiting == 0, what="the letter to be answered")
        answer = await writer.request("letter.read", "letter.answer", code=stored["code"])
        assert answer["status"] == "answered"
        assert any(m["text"] == "Ja, vi har åbent kl. 10-16." for m in answer["messages"])
        await pilot.press("escape")

        # back on duty, take a chat, and quit: the console asks, and hands the chat back to the queue
        await pilot.press("o")
        await until(lambda: app.state.on_duty, what="on duty again")
        await pilot.press("n")
        await until(lambda: app.state.active is not None, what="a chat")
        taken = app.state.active
        await pilot.press("ctrl+q")
        await until(lambda: isinstance(app.screen, OpenChatsDialog), what="the quit question")
        await pilot.press("enter")
        await until(lambda: not app.is_running, what="the console to quit")
    state = await node.ctx.store.read(lambda c: c.execute("SELECT state, owner FROM conversations WHERE id = ?",
                                                          (taken,)).fetchone())
    assert tuple(state) == ("waiting", None)  # handed back to the queue before the console closed
    for person in (lise, ole, writer):
        await person.close()


async def test_a_restarted_console_shows_its_open_chats(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                                                       anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    app = ConsoleApp(base_url(node), pins=pins, writer=lambda s: None, env={})
    lise = await citizen(anon, node.port)
    async with app.run_test(size=(140, 40)) as pilot:
        await log_in(pilot, app, anna)
        await pilot.press("o")
        await until(lambda: app.state.on_duty, what="on duty")
        await lise.request("chat.start", "chat.started", name="Lise", danger=False)
        await lise.request("chat.send", "chat.ack", text="Er der nogen?", client_id="m1")
        await until(lambda: app.state.queue, what="the queue")
        await pilot.press("n")
        await until(lambda: app.state.active is not None, what="the chat")
        app.exit()  # the terminal closes without a handover
    again = ConsoleApp(base_url(node), pins=pins, writer=lambda s: None, env={})
    async with again.run_test(size=(140, 40)) as pilot:
        await log_in(pilot, again, anna)
        await until(lambda: again.state.conversations, what="the open chat to be fetched")
        pane = again.main.query_one(ConversationPane)  # type: ignore[union-attr]
        await until(lambda: "Er der nogen?" in pane.plain, what="its transcript")
    await lise.close()
