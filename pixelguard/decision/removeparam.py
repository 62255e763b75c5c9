"""Tracking parameters taken out of URLs, by ``$removeparam`` rules (uBO's wiki, "Static filter syntax").

A rule's value is a parameter name (``fbclid``), a ``/regex/`` (``/regex/i`` for case-blind) tested against
``name=value``, either of them negated with ``~`` (remove every parameter but those), or empty (remove them all).
The query keeps its order and its spelling; only whole parameters go. Pure: URL in, URL out; linear in the
query's length whatever the number of parameters.

How names compare, and where pixelguard is stricter than uBO: uBO (static-net-filtering.js, filterQuery) splits
the query on ``&`` and compares a literal name byte for byte. A click ID is read by whoever receives it, and they
read more spellings: ``URLSearchParams`` decodes ``fb%63lid``, ASP.NET reads ``FBCLID`` case-blind, PHP takes
``fbclid[]`` as ``fbclid``, and servers that follow HTML 4 split on ``;`` too. So a name is compared
percent-decoded, case-blind and without a ``[]`` suffix, and ``;`` separates parameters as ``&`` does. A regex is
tested as uBO tests it (case as its ``i`` flag says) on the decoded ``name=value``.

A ``/regex/`` value runs on the network's URLs like any ``/regex/`` rule, so it goes through the engine's bounded
matcher (RE2, or Python's ``re`` only for patterns that cannot backtrack badly); a refused one removes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from pixelguard.engine.bounded_regex import compile_search
from pixelguard.limits import MAX_QUERY_PARAMS

_SEPARATORS = re.compile(r"[&;]")


@dataclass(frozen=True, slots=True)
class _Test:
    negated: bool
    kind: str  # "all" | "name" | "regex" | "never"
    name: str = ""  # the compared form of a name (see _compared)
    search: object = None  # a bounded regex search for "regex"


def _compared(name: str) -> str:
    """A parameter name as it is compared: percent-decoded, lower case, without a ``[]`` suffix."""
    if "%" in name:
        name = unquote(name)
    name = name.lower()
    while name.endswith("[]"):
        name = name[:-2]
    return name


def _test(value: str) -> _Test:
    negated = value.startswith("~")
    body = value[1:] if negated else value
    if not body:
        return _Test(negated, "all")
    m = re.fullmatch(r"/(.+)/(i?)", body, re.S)
    if m:
        pattern = ("(?i)" if m.group(2) else "") + m.group(1)
        search = compile_search(pattern)
        return _Test(negated, "never") if search is None else _Test(negated, "regex", search=search)
    return _Test(negated, "name", name=_compared(body))


def _split(query: str) -> tuple[list[str], list[str]]:
    """The query's parameters and the separator after each ("" after the last)."""
    pairs = _SEPARATORS.split(query)
    seps = [m.group(0) for m in _SEPARATORS.finditer(query)] + [""]
    return pairs, seps


def normalised(url: str) -> str:
    """url with its parameter names as they are compared (see _compared) and ``;`` read as ``&``: what the
    engine is asked with, so that a rule indexed under ``fbclid`` is found for ``fb%63lid[]``. The same URL
    when nothing in its query would hide a name (the common case costs one scan)."""
    head, _, _ = url.partition("#")
    base, q, query = head.partition("?")
    if not q or not any(c in query for c in "%[;"):
        return url
    pairs, _ = _split(query)
    out = []
    for pair in pairs[:MAX_QUERY_PARAMS]:
        name, eq, value = pair.partition("=")
        out.append(_compared(name) + eq + value)
    return base + "?" + "&".join(out)


def clean(url: str, values: Iterable[str]) -> tuple[str, list[str]]:
    """``url`` without the parameters the rule values name; and the names removed, in order."""
    head, hash_mark, fragment = url.partition("#")
    base, q, query = head.partition("?")
    if not q or not query:
        return url, []
    drops = _dropper([_test(v) for v in values])
    pairs, seps = _split(query)
    kept: list[tuple[str, str]] = []
    removed: list[str] = []
    for pair, sep in zip(pairs[:MAX_QUERY_PARAMS], seps[:MAX_QUERY_PARAMS], strict=True):
        raw_name, eq, raw_value = pair.partition("=")
        if pair and drops(raw_name, eq, raw_value):
            removed.append(raw_name)
        else:
            kept.append((pair, sep))
    if not removed:
        return url, []
    query_out = "".join(p + s for p, s in kept).rstrip("&;")
    new = base + ("?" + query_out if query_out else "") + (hash_mark + fragment if hash_mark else "")
    return new, removed


def _dropper(tests: list[_Test]) -> Callable[[str, str, str], bool]:
    """(name, "=" or "", value) -> does some rule value remove this parameter? Plain names are one set lookup
    (the common case); negated values, regexes and "all" are asked in turn."""
    names = {t.name for t in tests if t.kind == "name" and not t.negated}
    # A refused regex removes nothing, negated or not (uBO: a bad value is skipped, `if ( bad ) { continue; }`).
    others = [t for t in tests if (t.negated or t.kind != "name") and t.kind != "never"]

    def drops(raw_name: str, eq: str, raw_value: str) -> bool:
        name = _compared(raw_name)
        if name in names:
            return True
        if not others:
            return False
        decoded = f"{unquote(raw_name)}={unquote(raw_value)}" if eq else unquote(raw_name)
        for t in others:
            if t.kind == "regex":
                hit = t.search(decoded) >= 0  # type: ignore[operator]
            else:
                hit = t.kind == "all" or (t.kind == "name" and name == t.name)
            if hit != t.negated:
                return True
        return False

    return drops
