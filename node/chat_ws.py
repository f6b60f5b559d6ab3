"""The chat's WebSocket message types (see docs/api.md section 6) and their handlers."""
from __future__ import annotations

from aiohttp import web

from node.chat import ChatService
from node.protocol import ANYONE, STAFF, Field, Message, message_type
from node.validation import InvalidInput
from node.ws import HANDLERS, ON_CONNECT, ON_DISCONNECT, Peer

CITIZEN = frozenset({"citizen"})
CHAT: web.AppKey[ChatService] = web.AppKey("chat", ChatService)

TEXT = Field(str, max_len=2000)
CLIENT_ID = Field(str, max_len=64)
CONVERSATION = Field(str, max_len=64)

message_type("chat.start", CITIZEN, name=Field(str, required=False, max_len=40),
             topic=Field(str, required=False, max_len=60), danger=Field(bool),
             lang=Field(str, required=False, max_len=2), previous=Field(str, required=False, max_len=128))
message_type("chat.resume", CITIZEN, resume=Field(str, max_len=128))
message_type("chat.send", ANYONE, text=TEXT, client_id=CLIENT_ID, conversation=Field(str, required=False, max_len=64))
message_type("chat.typing", ANYONE, active=Field(bool), conversation=Field(str, required=False, max_len=64))
message_type("chat.delete", CITIZEN, message=Field(int, high=2**62))
message_type("chat.leave", CITIZEN)
message_type("chat.quick_exit", CITIZEN)
message_type("letter.send", CITIZEN, text=Field(str, max_len=4000), topic=Field(str, required=False, max_len=60),
             lang=Field(str, required=False, max_len=2))
message_type("letter.read", CITIZEN, code=Field(str, max_len=40))
message_type("duty.set", STAFF, on=Field(bool), open_chats=Field(str, required=False, max_len=10),
             to=Field(str, required=False, max_len=64))
message_type("chat.take", STAFF, conversation=Field(str, required=False, max_len=64))
message_type("note.add", STAFF, conversation=CONVERSATION, text=TEXT)
message_type("chat.transfer", STAFF, conversation=CONVERSATION, to=Field(str, required=False, max_len=64),
             note=Field(str, required=False, max_len=500))
message_type("chat.escalate", STAFF, conversation=CONVERSATION, note=Field(str, required=False, max_len=500))
message_type("chat.join", STAFF, conversation=CONVERSATION)
message_type("chat.open", STAFF, conversation=CONVERSATION)
message_type("chat.end", STAFF, conversation=CONVERSATION, topic=Field(str, max_len=60),
             outcome=Field(str, required=False, max_len=40))
message_type("chat.block", STAFF, conversation=CONVERSATION, hours=Field(int, low=1, high=720),
             reason=Field(str, max_len=200))
message_type("letters.list", STAFF)
message_type("letter.reply", STAFF, conversation=CONVERSATION, text=Field(str, max_len=4000))


def _nonempty(value: str, name: str) -> str:
    if not value.strip():
        raise InvalidInput(f"field '{name}' must not be empty", "bad_field")
    return value


def install(app: web.Application, chat: ChatService) -> None:
    """Register the chat handlers and connection hooks on the app."""
    app[CHAT] = chat
    app[ON_CONNECT].append(chat.connected)
    app[ON_DISCONNECT].append(chat.disconnected)

    async def start(peer: Peer, msg: Message) -> None:
        d = msg.data
        await chat.start(peer, d.get("name"), d.get("topic"), d["danger"], d.get("lang", "da"), d.get("previous"))

    async def resume(peer: Peer, msg: Message) -> None:
        await chat.resume(peer, msg.data["resume"])

    async def send(peer: Peer, msg: Message) -> None:
        text = _nonempty(msg.data["text"], "text")
        if peer.role == "citizen":
            if "conversation" in msg.data:
                raise InvalidInput("unexpected field 'conversation'", "bad_field")
            await chat.citizen_send(peer, text, msg.data["client_id"])
        else:
            await chat.staff_send(peer, _conversation(msg), text, msg.data["client_id"])

    async def typing(peer: Peer, msg: Message) -> None:
        if peer.role == "citizen":
            await chat.citizen_typing(peer, msg.data["active"])
        else:
            await chat.staff_typing(peer, _conversation(msg), msg.data["active"])

    async def delete(peer: Peer, msg: Message) -> None:
        await chat.citizen_delete(peer, msg.data["message"])

    async def leave(peer: Peer, msg: Message) -> None:
        await chat.citizen_leave(peer, "left")

    async def quick_exit(peer: Peer, msg: Message) -> None:
        await chat.citizen_leave(peer, "quick_exit")

    async def letter_send(peer: Peer, msg: Message) -> None:
        await chat.leave_letter(peer, _nonempty(msg.data["text"], "text"), msg.data.get("topic"),
                                msg.data.get("lang", "da"))

    async def letter_read(peer: Peer, msg: Message) -> None:
        await chat.read_letter(peer, msg.data["code"])

    async def duty(peer: Peer, msg: Message) -> None:
        choice = msg.data.get("open_chats")
        if choice not in (None, "requeue", "transfer"):
            raise InvalidInput("'open_chats' must be requeue or transfer", "bad_field")
        if choice == "transfer" and not msg.data.get("to"):
            raise InvalidInput("say who to transfer to ('to')", "bad_field")
        await chat.set_duty(peer, msg.data["on"], choice, msg.data.get("to"))

    async def take(peer: Peer, msg: Message) -> None:
        await chat.take(peer, msg.data.get("conversation"))

    async def note(peer: Peer, msg: Message) -> None:
        await chat.add_note(peer, msg.data["conversation"], _nonempty(msg.data["text"], "text"))

    async def transfer(peer: Peer, msg: Message) -> None:
        await chat.transfer(peer, msg.data["conversation"], msg.data.get("to"), msg.data.get("note", ""))

    async def escalate(peer: Peer, msg: Message) -> None:
        await chat.escalate(peer, msg.data["conversation"], msg.data.get("note"))

    async def join(peer: Peer, msg: Message) -> None:
        await chat.join(peer, msg.data["conversation"])

    async def reopen(peer: Peer, msg: Message) -> None:
        await chat.reopen(peer, msg.data["conversation"])

    async def end(peer: Peer, msg: Message) -> None:
        await chat.end(peer, msg.data["conversation"], msg.data["topic"], msg.data.get("outcome"))

    async def block(peer: Peer, msg: Message) -> None:
        await chat.block(peer, msg.data["conversation"], msg.data["hours"], _nonempty(msg.data["reason"], "reason"))

    async def letters(peer: Peer, msg: Message) -> None:
        await chat.list_letters(peer)

    async def letter_reply(peer: Peer, msg: Message) -> None:
        await chat.reply_letter(peer, msg.data["conversation"], _nonempty(msg.data["text"], "text"))

    app[HANDLERS].update({
        "chat.start": start, "chat.resume": resume, "chat.send": send, "chat.typing": typing,
        "chat.delete": delete, "chat.leave": leave, "chat.quick_exit": quick_exit,
        "letter.send": letter_send, "letter.read": letter_read, "duty.set": duty, "chat.take": take,
        "note.add": note, "chat.transfer": transfer, "chat.escalate": escalate, "chat.join": join, "chat.open": reopen,
        "chat.end": end, "chat.block": block, "letters.list": letters, "letter.reply": letter_reply,
    })


def _conversation(msg: Message) -> str:
    cid = msg.data.get("conversation")
    if not cid:
        raise InvalidInput("field 'conversation' is missing", "bad_field")
    return str(cid)
