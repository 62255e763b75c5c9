"""Collection-protocol matches → learned rules for the path they were sent to (issue 26).

The detectors (payloads/schemas.py) stop each request that speaks a protocol. A site that proxies its analytics
through a path of its own sends them all to that one path; after ``learn_after`` matches there, the learner names
the path, so that a variant the detectors do not read (a new parameter spelling, an encrypted body) is stopped
too, and ``pixelguard check`` says so. The rule is the narrowest that covers the matches: that one path on that
one host, ``||host/path^`` (any query, nothing past its name), for every request type; never a whole host, which
on a first-party host would be the site itself.

Memory is bounded: at most ``MAX_PATHS`` (host, path) pairs counted, the least recently seen going first; a key
is the pair's hash, so long paths cost what short ones cost.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

from pixelguard.decision.pixel_learner import key_of, path_of

MAX_PATHS = 10_000
MAX_PATH = 200  # a longer path is no rule a person reads: not learned
_SPECIAL = "*^|$?#"  # a path holding one of these cannot be written as a plain rule pattern


class Learned(NamedTuple):
    evidence: str  # why, for the comment above the rule
    path: str  # the path the rule names


class SchemaLearner:
    def __init__(self, learn_after: int = 3):
        self.learn_after = learn_after
        self._counts: OrderedDict[int, int] = OrderedDict()
        self._learned: set[int] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._counts)

    def match(self, host: str, url: str, protocol: str) -> Learned | None:
        """Record a request to ``url`` on ``host`` that spoke ``protocol`` (as the stop's rule names it, "Google
        Analytics 4 collection protocol"); what to learn once the path has seen ``learn_after`` of them."""
        path = path_of(url)
        if not host or path == "/" or len(path) > MAX_PATH or any(c in path for c in _SPECIAL):
            return None
        key = key_of(f"{host}\0{path}")
        with self._lock:
            if key in self._learned:
                return None
            n = self._counts.pop(key, 0) + 1
            if n < self.learn_after:
                self._counts[key] = n
                if len(self._counts) > MAX_PATHS:
                    self._counts.popitem(last=False)
                return None
            self._learned.add(key)
            # Learned ones are in the list file: this set only spares rewriting one, so forgetting one is cheap.
            if len(self._learned) > MAX_PATHS:
                self._learned.pop()
            return Learned(f"{protocol} sent there {n} times", path)


def learned_rule(host: str, path: str) -> str:
    """The rule for a learned collection path: that path on that host, any query, every request type."""
    return f"||{host}{path}^"
