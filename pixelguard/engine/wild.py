"""ABP wildcard patterns (``*`` ``^`` and the ``|``/``||`` anchors) matched in time linear in the URL.

A pattern is split at its ``*`` into parts; each part is a literal, or a small regex when it holds ``^`` (the
separator: any character but a letter, digit or ``_ - . %``, or the end of the URL). Parts have no repetition,
so finding one is linear, and they are found one after the other, each at its leftmost place after the previous
one: the leftmost occurrence of a fixed-width part ends first, which leaves the most room for the rest, so this
greedy search finds a match whenever there is one. A translation to one regex (``a.*b.*c``) backtracks instead:
quadratic or worse on a long URL that repeats ``a`` without ``c``, which is how a page could stall the proxy.

Pattern strings are as rules.py stores them: ``||`` (at the start of the host or of one of its labels) or ``|``
(at the start of the URL) in front, ``|`` (at the end of the URL) behind. For ``||host/...`` rules the host
index has matched the host already and :meth:`Wild.match` checks the rest right after it.
"""

from __future__ import annotations

import re

# ABP's separator: anything but a letter, a digit, or one of _ - . %; also the end of the address.
SEPARATOR = r"(?:[^a-zA-Z0-9_.%-]|\Z)"

NONE, START, HOST_START = 0, 1, 2


class _Part:
    """One piece between two ``*``: find it (leftmost), match it at a position, or match it at the end."""

    __slots__ = ("at_end", "lit", "rx")
    lit: str | None
    rx: re.Pattern[str] | None
    at_end: re.Pattern[str] | None

    def __init__(self, text: str):
        if "^" in text:
            src = SEPARATOR.join(re.escape(piece) for piece in text.split("^"))
            self.lit = None
            self.rx = re.compile(src)
            self.at_end = re.compile(src + r"\Z")
        else:
            self.lit = text
            self.rx = self.at_end = None

    def find_end(self, s: str, pos: int) -> int:
        """End of the leftmost occurrence at or after pos, or -1."""
        if self.lit is not None:
            i = s.find(self.lit, pos)
            return -1 if i < 0 else i + len(self.lit)
        m = self.rx.search(s, pos)  # type: ignore[union-attr]
        return -1 if m is None else m.end()

    def match_end(self, s: str, pos: int) -> int:
        """End of an occurrence starting exactly at pos, or -1."""
        if self.lit is not None:
            return pos + len(self.lit) if s.startswith(self.lit, pos) else -1
        m = self.rx.match(s, pos)  # type: ignore[union-attr]
        return -1 if m is None else m.end()

    def ends_string(self, s: str, pos: int) -> bool:
        """Is there an occurrence at or after pos that ends the string?"""
        if self.lit is not None:
            return len(s) - len(self.lit) >= pos and s.endswith(self.lit)
        return self.at_end.search(s, pos) is not None  # type: ignore[union-attr]


class Wild:
    __slots__ = ("anchor", "end", "parts")

    def __init__(self, pattern: str):
        self.anchor = NONE
        if pattern.startswith("||"):
            self.anchor, pattern = HOST_START, pattern[2:]
        elif pattern.startswith("|"):
            self.anchor, pattern = START, pattern[1:]
        self.end = pattern.endswith("|")
        if self.end:
            pattern = pattern[:-1]
        self.parts = [_Part(p) for p in pattern.split("*") if p] or [_Part("")]

    def search(self, s: str, host_start: int, host_end: int) -> bool:
        """Does the pattern match the URL s (whose host spans host_start:host_end)?"""
        return self.search_end(s, host_start, host_end) >= 0

    def search_end(self, s: str, host_start: int, host_end: int) -> int:
        """Where the (earliest-ending) match ends in s, or -1."""
        if self.anchor == NONE:
            return self._rest(s, 0, 0)
        if self.anchor == START:
            return self._from(s, 0)
        # ||: at the start of the host or right after one of its dots (uBO's FilterAnchorHnLeft). The leftmost
        # place where the first part fits ends first, so when more parts follow it is the only one to try.
        first, more = self.parts[0], len(self.parts) > 1
        p = host_start
        while True:
            e = first.match_end(s, p)
            if e >= 0:
                if more:
                    return self._rest(s, 1, e)
                if not self.end or e == len(s):
                    return e
            dot = s.find(".", p, host_end)
            if dot < 0:
                return -1
            p = dot + 1

    def match(self, s: str, pos: int) -> bool:
        """Does the pattern match s starting exactly at pos (the rest of a ``||host/...`` rule)?"""
        return self._from(s, pos) >= 0

    def _from(self, s: str, pos: int) -> int:
        e = self.parts[0].match_end(s, pos)
        if e < 0:
            return -1
        if len(self.parts) == 1:
            return e if not self.end or e == len(s) else -1
        return self._rest(s, 1, e)

    def _rest(self, s: str, i: int, pos: int) -> int:
        parts = self.parts
        last = len(parts) - 1
        for j in range(i, last + 1):
            part = parts[j]
            if j == last and self.end:
                return len(s) if part.ends_string(s, pos) else -1
            pos = part.find_end(s, pos)
            if pos < 0:
                return -1
        return pos


_cache: dict[str, Wild] = {}


def compiled(pattern: str) -> Wild:
    w = _cache.get(pattern)
    if w is None:
        w = _cache[pattern] = Wild(pattern)
    return w
