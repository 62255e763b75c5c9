"""The event loop `pixelguard run` serves on: uvloop's where it is installed, asyncio's own elsewhere.

One process's proxy is one event loop, and under load that loop's own work is part of every request's wait.
uvloop (libuv, in C) runs the loop's turns, timers and socket reads and writes that asyncio runs in Python. Under
`scripts/bench-pageload --https`, in runs with the commit before beside it, it took 2-4% less CPU per request and
gave 1-6% shorter median pages (README, Performance). mitmproxy itself asks nothing of the loop beyond asyncio's
public API.

uvloop does not build on Windows, where asyncio's loop stays. The UI (`pixelguard` with no command) runs the proxy
inside Textual's loop, which is asyncio's. ``PIXELGUARD_EVENT_LOOP=asyncio`` chooses asyncio's loop anyway: a way
back should uvloop misbehave somewhere, and how the tests run the proxy on both.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any

from pixelguard.display import cut, safe
from pixelguard.errors import PixelguardError

ENV = "PIXELGUARD_EVENT_LOOP"
CHOICES = ("uvloop", "asyncio")

Factory = Callable[[], asyncio.AbstractEventLoop]


def factory() -> Factory | None:
    """uvloop's loop factory, or None for asyncio's: as ENV chooses, else uvloop's when it is installed."""
    chosen = os.environ.get(ENV, "")
    if chosen == "asyncio":
        return None
    if chosen not in ("", "uvloop"):
        raise PixelguardError(
            f"{ENV}='{cut(safe(chosen), 40)}' is not an event loop pixelguard knows: uvloop or asyncio"
        )
    try:
        import uvloop
    except ImportError:
        if chosen:
            raise PixelguardError(f"{ENV}=uvloop, but uvloop is not installed: pip install uvloop") from None
        return None  # Windows, or an install without it
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, None], loop_factory: Factory | None) -> None:
    """Run ``main`` to its end on a new loop of ``loop_factory`` (None: asyncio's), as asyncio.run does."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main)
