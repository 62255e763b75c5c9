"""What the proxy process asks of the Python interpreter it runs in: mitmproxy's production behaviour, and a
garbage collector that does not keep walking what lives as long as the process.

Measured under `scripts/bench-pageload --https` (issue 25, README's Performance section), with a py-spy profile and
``gc.callbacks`` timing the collector:

- mitmproxy type-checks every field of every Request and Response it builds (``MessageData.__post_init__``) when
  Python runs without ``-O``: its own code puts that check under ``if __debug__:``, a debugging aid it drops in
  production. It was 7% of the proxy's busy time. ``pixelguard run`` is started as a console script, where ``-O``
  cannot be given, so the check is dropped here instead (``-O`` would also strip every ``assert`` of every
  library).
- mitmproxy 11 reads the environment each time it starts a task, to name it after the test that runs it: 4% of
  the busy time. mitmproxy 12 no longer does, and 11 is given 12's function.
- mitmproxy hands out a deep copy of an option's value at every read (``OptManager.__getattr__``), even of a
  bool or a string, and its layers and TLS setup read options for every connection: 1% of the busy time. A value
  of an immutable type is handed out as it is, which is what ``copy.deepcopy`` returns for those types anyway.
- Each HTTP stream and each connection's HTTP layer gets a context forked from its layer's (``Context.fork``):
  a new ``Context`` whose ``__init__`` first makes a new ``Server`` (a dataclass with a random ``uuid4`` id,
  every field set through ``Server.__setattr__``) that the fork at once replaces with the layer's own. About 2%
  of the busy time (stop 65), half of it the random id, for an object never used. The fork sets the same
  four attributes without it.
- The engine, the lists' caches and the modules are some 140,000 objects that live as long as the process; each
  full collection walked all of them (80-90 ms each, the event loop stopped meanwhile). Frozen once an engine is
  installed, a collection walks only what the traffic made.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def _unchecked(self: Any) -> None:
    """``MessageData.__post_init__`` as mitmproxy has it under ``python -O``: nothing to do."""


def _task_debug_info(task: asyncio.Task, *, name: str, client: tuple | None = None) -> None:
    """mitmproxy 12's ``set_task_debug_info``: 11's also read the environment (``PYTEST_CURRENT_TEST``) for every
    task it started, two per request and more, 4% of the proxy's busy time."""
    task.created = time.time()  # type: ignore[attr-defined]
    task.set_name(name)
    if client:
        task.client = client  # type: ignore[attr-defined]


# The types copy.deepcopy returns unchanged (its _deepcopy_atomic) that mitmproxy's options hold.
_IMMUTABLE = frozenset({bool, int, float, str, bytes, type(None)})


def _option_current(unset: object) -> Callable[[Any], Any]:
    """``_Option.current`` without the deep copy where one would return the value itself; ``unset`` is
    mitmproxy's marker of an option left at its default."""

    def current(self: Any) -> Any:
        value = self._default if self.value is unset else self.value
        return value if type(value) in _IMMUTABLE else copy.deepcopy(value)

    return current


def _fork(self: Any) -> Any:
    """``Context.fork`` without the throwaway ``Server``: the same client, options and server, a copy of the
    layer stack."""
    forked = object.__new__(type(self))
    forked.client = self.client
    forked.options = self.options
    forked.server = self.server
    forked.layers = self.layers.copy()
    return forked


# The names mitmproxy 11's and 12's Context.fork and Context.__init__ use: a context is its client, options,
# server and layers, nothing else. A context that holds more is left to its own fork.
_FORK_NAMES = ("Context", "client", "options", "server", "layers", "copy")
_INIT_NAMES = ("client", "options", "connection", "Server", "transport_protocol", "server", "layers")


def production_mode() -> list[str]:
    """Drop mitmproxy's debugging aids and needless work from the proxy's path (see the module's text); returns
    what was dropped.

    Each is replaced only where it is found as it was measured, so another mitmproxy is left as it is."""
    from mitmproxy import http, optmanager
    from mitmproxy.proxy import context
    from mitmproxy.utils import asyncio_utils

    dropped = []
    if "__post_init__" in vars(http.MessageData):
        http.MessageData.__post_init__ = _unchecked  # type: ignore[method-assign]
        dropped.append("type checks of requests and responses")
    if "PYTEST_CURRENT_TEST" in asyncio_utils.set_task_debug_info.__code__.co_consts:
        asyncio_utils.set_task_debug_info = _task_debug_info
        dropped.append("an environment lookup per task")
    if "deepcopy" in optmanager._Option.current.__code__.co_names:
        optmanager._Option.current = _option_current(optmanager.unset)  # type: ignore[method-assign, assignment]
        dropped.append("a deep copy of immutable option values at each read")
    fork, init = context.Context.fork.__code__, context.Context.__init__.__code__
    if (fork.co_names, init.co_names) == (_FORK_NAMES, _INIT_NAMES):
        context.Context.fork = _fork  # type: ignore[method-assign]
        dropped.append("a server connection made and thrown away at each fork of a layer's context")
    return dropped


def freeze_heap() -> None:
    """Collect what is garbage now, then keep everything still alive out of later collections: run whenever an
    engine has been installed (at start, and after a list update or a new config replaced it).

    A frozen object is still freed by reference counting when its last reference goes (as an engine replaced by
    a list update is); only a frozen reference cycle would outlive its use, so whatever was frozen before is
    unfrozen and collected first. One full collection, about 0.1 s, once per engine."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.debug("pixelguard: %d objects frozen", gc.get_freeze_count())
