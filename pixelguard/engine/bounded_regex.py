"""``/regex/`` filter rules compiled so that no URL can make one backtrack for long.

Most go to RE2 (google-re2), which matches in time linear in the URL whatever the pattern. RE2 has no
lookaround, which 37 of the 376 regex rules in uBO's and EasyList's lists use; those go to Python's ``re`` only
when a static check finds no way to backtrack badly: anchored at the start of the URL (one attempt, not one per
position) and no quantified group that itself holds a quantifier or an alternation (``(a+)+``, ``(a|aa)+``, the
exponential cases). Anything else is refused with a reason, counted like any skipped rule.

What this costs on hostile URLs is measured by scripts/bench-hostile and tests/test_engine_hostile.py, and
recorded in README's Performance section; a pattern such as ``(a+)+b`` would take Python's ``re`` years on 40
characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr
_OPTIONS.max_mem = 8 << 20  # per pattern; a pattern that needs more is refused (RE2 reports it)

# A group closing with an unbounded quantifier: ")*", ")+", "){n,}".
_UNBOUNDED_GROUP = re.compile(r"\)(?:[*+]|\{\d+,\})")
# What makes a repeated group's body match one text in many ways: a quantifier, or an alternation ("(a|aa)+" is
# as exponential as "(a+)+"; telling disjoint alternatives apart is not worth it: no real rule repeats one). A
# "?" right after an unescaped "(" opens a group's kind ("(?:", "(?=", "(?P<"): it quantifies nothing.
_AMBIGUOUS = re.compile(r"(?<!\\)(?:[*+|]|(?<!(?<!\\)\()\?|\{\d+(?:,\d*)?\})")
_BACKREF = re.compile(r"\\[1-9]|\(\?P=")


def _nested_quantifier(src: str) -> bool:
    """Is an unboundedly repeated group holding a quantifier or an alternation? (Conservative: looks at the text
    between the group's opening and closing parenthesis, escapes and classes included.)"""
    for m in _UNBOUNDED_GROUP.finditer(src):
        depth, i = 0, m.start()
        while i >= 0:
            c = src[i]
            if c == ")" and (i == 0 or src[i - 1] != "\\"):
                depth += 1
            elif c == "(" and (i == 0 or src[i - 1] != "\\"):
                depth -= 1
                if depth == 0:
                    break
            i -= 1
        if _AMBIGUOUS.search(src, i + 1, m.start()):  # its lookbehinds see the "(" before i + 1
            return True
    return False


def _python_safe(src: str) -> str | None:
    """None when Python's re may run ``src``; else why not."""
    body = src[4:] if src.startswith("(?i)") else src
    if not body.startswith("^"):
        return "regular expression needs lookaround and is not anchored at the start: it could backtrack"
    if _nested_quantifier(body) or _BACKREF.search(body):
        return "regular expression could backtrack exponentially"
    return None


# search(url) -> where the first match ends, or -1
Search = Callable[[str], int]
_cache: dict[str, Search | None] = {}
_errors: dict[str, str] = {}
_in_re2: set[str] = set()


def _re2_search(rx: Any) -> Search:
    """RE2's search as a function of the URL. The module's public ``search`` builds a match object through
    Python code; its compiled object's ``Match`` answers several times faster (README, Performance). The public
    call is used when that private one is not there (another google-re2 version)."""
    try:
        match = rx._regexp.Match
        anchor = re2._Anchor.UNANCHORED
    except AttributeError:  # pragma: no cover - depends on the installed google-re2

        def public(url: str) -> int:
            m = rx.search(url)
            return -1 if m is None else m.end()

        return public

    def fast(url: str) -> int:
        data = url.encode("utf-8", "surrogatepass")
        end = match(anchor, data, 0, len(data))[0][1]
        if end < 0 or url.isascii():
            return end
        return len(data[:end].decode("utf-8", "ignore"))

    return fast


def python_search(rx: re.Pattern[str]) -> Search:
    """Python's ``re`` search as a Search (for a pattern known to be safe in it)."""

    def search(url: str) -> int:
        m = rx.search(url)
        return -1 if m is None else m.end()

    return search


def compile_search(src: str) -> Search | None:
    """A ``search(url) -> end of match or -1`` for ``src``, or None when the pattern is refused."""
    found = _cache.get(src, False)
    if found is not False:
        return found  # type: ignore[return-value]
    search: Search | None = None
    try:
        search = _re2_search(re2.compile(src, _OPTIONS))
        _in_re2.add(src)
    except Exception:  # re2.error: lookaround, backreferences, too big, or not a regex at all
        try:
            python = re.compile(src)
        except (re.error, RecursionError, OverflowError, ValueError) as err:
            _errors[src] = f"bad regular expression: {err}"
        else:
            why = _python_safe(src)
            if why is None:
                search = python_search(python)
            else:
                _errors[src] = why
    _cache[src] = search
    return search


def prefilter(src: str, match_case: bool) -> str | None:
    """An RE2 pattern that matches every lower-cased URL ``src`` matches (maybe more), for a PatternSet; None
    when there is none. Lookarounds are dropped (RE2 has none; without them a pattern matches more), and a
    case-sensitive pattern becomes case-insensitive (the set reads the lower-cased URL)."""
    relaxed = _drop_lookarounds(src)
    if match_case and not relaxed.startswith("(?i)"):
        relaxed = "(?i)" + relaxed
    try:
        re2.compile(relaxed, _OPTIONS)
    except Exception:
        return None
    return relaxed


def class_end(src: str, i: int) -> int:
    """Where the character class opened by the "[" at src[i] closes: the index of its "]", or past the end when
    it is left open. A "]" first in a class (after its "^", if any) is one of its characters: "[]a]" and "[^]a]"
    are one class each; an escaped "]" closes nothing."""
    n = len(src)
    j = i + 1
    if j < n and src[j] == "^":
        j += 1
    if j < n and src[j] == "]":
        j += 1
    while j < n and src[j] != "]":
        j += 2 if src[j] == "\\" else 1
    return j


def _drop_lookarounds(src: str) -> str:
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            out.append(src[i : i + 2])
            i += 2
            continue
        if c == "[":  # a class: copied whole (a "(" inside is a literal)
            j = class_end(src, i)
            out.append(src[i : j + 1])
            i = j + 1
            continue
        if src.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            depth, j = 0, i
            while j < n:
                if src[j] == "\\":
                    j += 2
                    continue
                if src[j] == "[":
                    j = class_end(src, j)  # its "(" and ")" are characters
                elif src[j] == "(":
                    depth += 1
                elif src[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


class PatternSet:
    """Many RE2 patterns matched against a URL in one pass: which of them match (RE2::Set).

    For the regex rules nothing else can index (no literal, no token, no page or request domain): a request
    asks the set once instead of asking each pattern."""

    __slots__ = ("_match",)

    def __init__(self, sources: list[str]):
        s = re2.Set.SearchSet(_OPTIONS)
        for src in sources:
            s.Add(src)
        s.Compile()
        self._match = s._set.Match if hasattr(s, "_set") else s.Match

    def matching(self, url: str) -> list[int]:
        return self._match(url.encode("utf-8", "surrogatepass")) or []


def check(src: str) -> str | None:
    """None when ``src`` compiles to a bounded matcher; otherwise the reason it is refused."""
    compile_search(src)
    return _errors.get(src)
