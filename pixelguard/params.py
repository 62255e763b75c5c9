"""Tracking parameters taken out of URLs, as uBO's ``$removeparam`` takes them (wiki, "Static filter syntax").

A rule's value is a parameter name (``fbclid``), a ``/regex/`` tested against ``name=value``, either of them
negated with ``~`` (remove every parameter but those), or empty (remove them all). The query keeps its order and
its encoding; only whole parameters go. Pure: URL in, URL out.

A ``/regex/`` value runs on the network's URLs like any ``/regex/`` rule, so it goes through the engine's bounded
matcher (RE2, or Python's ``re`` only for patterns that cannot backtrack badly); a refused one removes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from pixelguard.engine.bounded_regex import compile_search

_MAX_PARAMS = 1000  # a query with more is hostile or broken: left as it is


def _matcher(value: str) -> tuple[bool, object]:
    """(negated, test) for one rule value; test is a name (str), a bounded regex search, _NEVER for a refused
    regex, or None for 'all'."""
    negated = value.startswith("~")
    body = value[1:] if negated else value
    if not body:
        return negated, None
    if len(body) > 2 and body.startswith("/") and body.endswith("/"):
        search = compile_search(body[1:-1])
        return negated, _NEVER if search is None else search
    return negated, body


_NEVER = object()


def _hits(test: object, name: str, pair: str) -> bool:
    if test is None:
        return True
    if test is _NEVER:
        return False
    if isinstance(test, str):
        return name == test
    return test(pair) >= 0  # type: ignore[operator]


def clean(url: str, values: Iterable[str]) -> tuple[str, list[str]]:
    """``url`` without the parameters the rule values name; and the names removed, in order."""
    head, hash_mark, fragment = url.partition("#")
    base, q, query = head.partition("?")
    if not q or not query:
        return url, []
    pairs = query.split("&")
    if len(pairs) > _MAX_PARAMS:
        return url, []
    tests = [_matcher(v) for v in values]
    kept: list[str] = []
    removed: list[str] = []
    for pair in pairs:
        name = pair.split("=", 1)[0]
        drop = False
        for negated, test in tests:
            hit = _hits(test, name, pair)
            if hit != negated:
                drop = True
                break
        if drop and pair:
            removed.append(name)
        else:
            kept.append(pair)
    if not removed:
        return url, []
    new = base + ("?" + "&".join(kept) if any(kept) else "") + (hash_mark + fragment if hash_mark else "")
    return new, removed
