"""node.eventloop: which asyncio loop the node (and this suite) runs on."""
from __future__ import annotations

import asyncio
import os

import pytest

from node import eventloop


async def test_the_suite_runs_on_the_node_s_loop() -> None:
    # tests/conftest.py hands pytest-asyncio node.eventloop's factory: uvloop, as the node runs,
    # unless FRISTED_TEST_LOOP=asyncio (.ci/run runs tests/media and tests/node on that as well)
    assert eventloop.current() == os.environ.get("FRISTED_TEST_LOOP", eventloop.DEFAULT)


@pytest.mark.parametrize("name", eventloop.LOOPS)
def test_run_gives_main_s_result_on_a_loop_of_that_kind(name: str) -> None:
    async def main() -> tuple[str, int]:
        await asyncio.sleep(0)
        return eventloop.current(), 42

    assert eventloop.run(main, name) == (name, 42)


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="event_loop must be one of uvloop, asyncio"):
        eventloop.factory("trio")
