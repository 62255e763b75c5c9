"""The event loops the proxy runs on (proxy/event_loop.py): asyncio's own and uvloop's, for tests of what is
installed on a loop to run on each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

try:
    import uvloop
except ImportError:  # Windows: asyncio's loop only
    uvloop = None  # type: ignore[assignment]

Factory = Callable[[], asyncio.AbstractEventLoop] | None

LOOPS = [
    pytest.param(None, id="asyncio"),
    pytest.param(
        uvloop and uvloop.new_event_loop,
        id="uvloop",
        marks=pytest.mark.skipif(uvloop is None, reason="uvloop does not build on Windows"),
    ),
]


def run_on(factory: Factory, main: Coroutine[Any, Any, Any]) -> Any:
    """``main`` run to its end on a new loop of ``factory`` (None: asyncio's)."""
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
