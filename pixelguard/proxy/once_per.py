"""At most one event per key and period, in bounded memory: what the proxy records about a repeating thing (a mail
client's tunnel relayed as raw bytes, a backup tool's big uploads read in part) is said once an hour, not at every
connection or request."""

from __future__ import annotations

import time
from collections.abc import Hashable

from pixelguard.limits import UNDECIDED_EVENT_EVERY_S, UNDECIDED_EVENT_KEYS


class OncePer:
    def __init__(self, every_s: float = UNDECIDED_EVENT_EVERY_S, keys: int = UNDECIDED_EVENT_KEYS):
        self.every_s, self.keys = every_s, keys
        self._last: dict[Hashable, float] = {}

    def due(self, key: Hashable) -> bool:
        """Is an event for key due (none in the last every_s)? Counts this one when it is. Past ``keys`` keys the
        memory starts again: a few more events, never unbounded memory."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.every_s:
            return False
        if len(self._last) >= self.keys:
            self._last.clear()
        self._last[key] = now
        return True
