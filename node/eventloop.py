"""Which asyncio event loop the node runs on.

uvloop (libuv) by default: on the test machine an asyncio process that only wakes for each
received datagram costs ~85-100 us of CPU per datagram on the standard loop and ~30-45 us on
uvloop (docs/performance.md), and a room wakes for every packet every camera and microphone
sends. The standard library's loop remains the fallback (`event_loop = "asyncio"` in the
config, or uvloop not installable); the test suite runs on both (.ci/run).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

LOOPS = ("uvloop", "asyncio")
DEFAULT = "uvloop"


def factory(name: str = DEFAULT) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function that makes a new loop of this kind; ValueError for an unknown name, RuntimeError
    when uvloop is asked for and not installed."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name != "uvloop":
        raise ValueError(f"event_loop must be one of {', '.join(LOOPS)}, not {name!r}")
    try:
        import uvloop
    except ImportError as exc:  # pragma: no cover - it is a dependency; a broken install says so
        raise RuntimeError("uvloop is not installed: reinstall fristed, or set event_loop = \"asyncio\"") from exc
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def run(main: Callable[[], Awaitable[T]], name: str = DEFAULT) -> T:
    """Run `main()` to completion on a new loop of this kind, as asyncio.run does."""
    with asyncio.Runner(loop_factory=factory(name)) as runner:
        return runner.run(main())  # type: ignore[arg-type]


def current() -> str:
    """The kind of the running loop ("uvloop" or "asyncio")."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
