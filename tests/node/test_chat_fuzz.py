"""Property-based: well-typed-looking chat frames with random values never hurt the node."""
from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.centre import Centre, validated
from node.chat_ws import CHAT
from node.clock import ManualClock
from node.protocol import REGISTRY
from node.server import RunningNode
from node.validation import InvalidInput
from tests.chatclient import citizen, staff
from tests.conftest import base_url, enrol, login, trust_only_ca

values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63),
                   st.text(max_size=80), st.lists(st.integers(), max_size=3),
                   st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
CHAT_TYPES = sorted(t for t in REGISTRY if t.startswith(("chat.", "letter", "note.", "duty.", "call.", "callback.",
                                                         "handover.", "roster.")))


@st.composite
def chat_frames(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(CHAT_TYPES))
    names = list(REGISTRY[kind].fields) + ["bogus"]
    fields = draw(st.dictionaries(st.sampled_from(names), values, max_size=4))
    return {"type": kind, **fields}


@pytest.fixture
async def sockets(node: RunningNode, http: aiohttp.ClientSession, clock: ManualClock):  # type: ignore[no-untyped-def]
    person = await enrol(node, clock, "Fuzz", "admin")
    token = str((await login(http, person))["token"])
    desk = await staff(http, token)
    await desk.send(type="duty.set", on=True)
    await desk.expect("duty", on=True)
    async with aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                     cookie_jar=aiohttp.DummyCookieJar()) as anon:
        yield desk, anon


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(chat_frames(), min_size=1, max_size=6), as_staff=st.booleans())
async def test_random_chat_frames_get_answers_and_the_node_stays_up(
        node: RunningNode, sockets: Any, clock: ManualClock, batch: list[dict[str, Any]], as_staff: bool) -> None:
    desk, anon = sockets
    clock.advance(10)  # refill the anonymous connection limit and the refusal allowance between examples
    client = desk if as_staff else await citizen(anon, node.port)
    for frame in batch:
        await client.send(**frame)
    await client.send(type="ping", id="end")
    await client.expect("pong", id="end", timeout=10)
    errors = [f for f in client.frames if f.get("type") == "error"]
    assert all(f.get("code") != "internal" for f in errors), errors
    if not as_staff:
        await client.close()
    assert await node.ctx.store.healthy()
    assert (await node.runner.app[CHAT].status())["open"] is True


@given(st.dictionaries(st.sampled_from(list(Centre.__dataclass_fields__) + ["x"]),
                       st.recursive(values, lambda kids: st.lists(kids, max_size=3)
                                    | st.dictionaries(st.sampled_from(["title", "text", "label", "number", "mon",
                                                                       "tue", "sun"]), kids,
                                                      max_size=3), max_leaves=8), max_size=4))
def test_centre_settings_parser_refuses_cleanly(body: dict[str, Any]) -> None:
    try:
        centre = validated(body, Centre())
    except InvalidInput as exc:
        assert exc.reason
    else:
        assert 1 <= centre.retention_days <= 365 and "Andet" in centre.topics
        assert 10 <= centre.ring_escalate_s <= 600 and set(centre.ring_roles) <= {"volunteer", "staff", "admin"}
        centre.hours_now().in_hours(1.8e9)  # whatever was accepted can be evaluated
