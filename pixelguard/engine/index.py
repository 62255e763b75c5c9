"""Where rules live so that a request looks at a handful of candidates, and the on-disk cache of it all.

Two maps and a short list per rule class:
- ``hosts``: rules anchored to a whole host (``||host^``, ``||host/path``), keyed by that host; a request looks
  up each suffix of its own host (a.b.example.com, b.example.com, example.com, com).
- ``tokens``: every other rule under the rarest of its tokens that any URL it matches must contain as a whole
  token (as uBlock Origin, Ghostery and adblock-rust do); a request looks up each token of its URL.
- ``fallback``: rules with no such token (regex rules, ``*`` everywhere); checked for every request.

Rules are stored as plain tuples (``RuleT``) so that the cache pickles and loads quickly; a rule's regex is
compiled the first time a request reaches it, never at load time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from pixelguard.engine import rules as R
from pixelguard.engine.request import Request

log = logging.getLogger(__name__)

# Bump when the cached structure or rule semantics change, so old caches are ignored.
# 6: regex rules indexed by their required literal tokens; 7 and 10: needles; 8 and 9: token costs.
FORMAT_VERSION = 10

# (text, list index, line, flags, types, kind, pattern, domains, domain flags, needle); see rules.needle_of
RuleT = tuple[str, int, int, int, int, int, str, dict[str, bool] | None, int, str]
HAS_INCLUDE = 1
HAS_ENTITY = 2

# Tokens nearly every URL contains: a rule indexed under one would be a candidate for every request.
_COMMON = frozenset(
    [
        "http",
        "https",
        "www",
        "com",
        "net",
        "org",
        "js",
        "html",
        "htm",
        "php",
        "css",
        "jpg",
        "png",
        "gif",
        "svg",
        "min",
        "static",
        "cdn",
        "assets",
        "img",
        "images",
    ]
)

_regex_cache: dict[str, re.Pattern[str] | None] = {}


_COMMON_COST = 100_000


def _token_cost(freq: Counter[str]) -> Any:
    """Sort key choosing the token a rule is indexed under: the fewest rules sharing it, unless it is a token
    most URLs contain (a bucket under "com" or "1" is looked at by nearly every request, often several times)."""

    def cost(t: str) -> tuple[int, int]:
        common = 10 * _COMMON_COST if t in _COMMON else _COMMON_COST if len(t) <= 2 or t.isdigit() else 0
        return (freq[t] + common, -len(t))

    return cost


def _regex(src: str) -> re.Pattern[str] | None:
    rx = _regex_cache.get(src, False)
    if rx is False:
        try:
            rx = re.compile(src)
        except (re.error, RecursionError, OverflowError, ValueError):
            rx = None  # reported at build time; from a cache, a bad regex simply never matches
        _regex_cache[src] = rx
    return rx  # type: ignore[return-value]


def domain_matches(
    domains: dict[str, bool], dflags: int, source_host: str, suffixes: tuple[str, ...]
) -> bool:
    """ABP ``$domain=`` semantics: the most specific listed suffix of the source host decides.

    ``suffixes``: the source host and its parent domains, most specific first (``Request.source_suffixes``).
    ``dflags``: HAS_INCLUDE when some entry is not negated, HAS_ENTITY when some entry is ``name.*``.
    """
    has_include = dflags & HAS_INCLUDE
    if not source_host:
        return not has_include
    for h in suffixes:
        v = domains.get(h)
        if v is not None:
            return v
    if dflags & HAS_ENTITY:  # entity form, e.g. google.* for every google.<public suffix>
        site = _entity(source_host)
        if site:
            h = site
            while True:
                v = domains.get(h)
                if v is not None:
                    return v
                i = h.find(".")
                if i < 0 or h[i + 1 :] == "*":
                    break
                h = h[i + 1 :]
    return not has_include


def domain_flags(domains: dict[str, bool]) -> int:
    return (HAS_INCLUDE if any(domains.values()) else 0) | (
        HAS_ENTITY if any("*" in d for d in domains) else 0
    )


def _entity(host: str) -> str:
    from pixelguard.engine.request import domain_of

    d = domain_of(host)
    if not d or "." not in d:
        return ""
    label = d.split(".", 1)[0]
    prefix = host[: len(host) - len(d)]
    return f"{prefix}{label}.*"


def matches(r: RuleT, req: Request) -> bool:
    """Does rule ``r`` apply to ``req``? The cheapest test that most candidates fail comes first."""
    _, _, _, flags, types, kind, pattern, domains, dflags, _ = r
    if not types & req.type:
        return False
    url = req.url if flags & R.MATCH_CASE else req.url_lower
    # Literal patterns are cheaper than the option checks and reject most candidates.
    if kind == R.SUBSTR:
        if pattern not in url:
            return False
    elif kind == R.AFTER_PREFIX:
        if not url.startswith(pattern, req.host_end):
            return False
    elif kind == R.PREFIX and not url.startswith(pattern):
        return False
    tp = req.third_party
    if tp is not None and not flags & (R.THIRD_PARTY if tp else R.FIRST_PARTY):
        return False
    if domains is not None and not domain_matches(domains, dflags, req.source_host, req.source_suffixes):
        return False
    if kind < R.REGEX or kind == R.AFTER_PREFIX:
        return True
    rx = _regex_cache.get(pattern, False)
    if rx is False:
        rx = _regex(pattern)
    if rx is None:
        return False
    if kind == R.AFTER_REGEX:
        return rx.match(url, req.host_end) is not None
    return rx.search(url) is not None


class RuleIndex:
    """One class of rules (important blocks, blocks, exceptions, ...) indexed by host and by token."""

    __slots__ = ("fallback", "hosts", "sources", "tokens")

    def __init__(self) -> None:
        self.hosts: dict[str, list[RuleT]] = {}
        self.tokens: dict[str, list[RuleT]] = {}
        # Token-less rules limited to some pages ($domain= with includes), keyed by each included domain: a
        # request only looks at those of its page's host suffixes.
        self.sources: dict[str, list[RuleT]] = {}
        self.fallback: list[RuleT] = []

    def __bool__(self) -> bool:
        return bool(self.hosts or self.tokens or self.sources or self.fallback)

    def build(self, items: list[tuple[RuleT, str | None, list[str]]], freq: Counter[str]) -> None:
        cost = _token_cost(freq)
        for r, host, toks in items:
            if host:
                self.hosts.setdefault(host, []).append(r)
                continue
            best = min(toks, key=cost) if toks else None
            # A rule limited to listed pages is found through those pages' hosts when its best token is one
            # most URLs contain: a few lookups per request instead of a candidate for nearly every request.
            by_source = r[7] and r[8] & HAS_INCLUDE and not r[8] & HAS_ENTITY
            if best is not None and not (by_source and cost(best)[0] >= _COMMON_COST):
                self.tokens.setdefault(best, []).append(r)
            elif by_source:
                for d, include in r[7].items():
                    if include:
                        self.sources.setdefault(d, []).append(r)
            else:
                self.fallback.append(r)

    def find(self, req: Request, tokens: list[str] | None) -> RuleT | None:
        """The first rule of this index that matches ``req`` (None when none does)."""
        hosts = self.hosts
        # r[4] is the rule's type mask and r[9] its needle: testing them here, before the call, spares most of
        # the calls (the hot path).
        rt = req.type
        url = req.url_lower
        if hosts:
            for h in req.suffixes:
                bucket = hosts.get(h)
                if bucket:
                    for r in bucket:
                        if r[4] & rt and r[9] in url and matches(r, req):
                            return r
        if self.tokens and tokens:
            # map/filter run the dict lookups in C: most of a URL's ~20 tokens index nothing.
            for bucket in filter(None, map(self.tokens.get, tokens)):
                for r in bucket:
                    if r[4] & rt and r[9] in url and matches(r, req):
                        return r
        if self.sources:
            sources = self.sources
            for h in req.source_suffixes:
                bucket = sources.get(h)
                if bucket:
                    for r in bucket:
                        if r[4] & rt and r[9] in url and matches(r, req):
                            return r
        for r in self.fallback:
            if r[4] & rt and r[9] in url and matches(r, req):
                return r
        return None

    def find_host(self, req: Request, tokens: list[str] | None = None) -> RuleT | None:
        """The first whole-host rule (``||host^`` with no type or path restriction) matching req's host.

        ``tokens`` is ignored: the signature is ``find``'s, so that the engine can use either.
        """
        for h in req.suffixes:
            for r in self.hosts.get(h, ()):
                if r[5] == R.HOST and r[4] == R.ALL_TYPES and matches(r, req):
                    return r
        return None

    def state(self) -> tuple[Any, ...]:
        return (self.hosts, self.tokens, self.sources, self.fallback)

    @classmethod
    def from_state(cls, state: tuple[Any, ...]) -> RuleIndex:
        idx = cls()
        idx.hosts, idx.tokens, idx.sources, idx.fallback = state
        return idx


# --- cache ---------------------------------------------------------------------------------------------------


def content_key(named_texts: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256(f"pixelguard-engine-{FORMAT_VERSION}\n".encode())
    for name, data in named_texts:
        h.update(f"{name}\n{len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()[:40]


def cache_file(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"engine-{key}.pickle"


def load_cache(cache_dir: Path, key: str) -> Any | None:
    path = cache_file(cache_dir, key)
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception as e:  # a truncated or foreign file: rebuild rather than fail
        log.warning("ignoring unreadable engine cache %s: %s", path, e)
        return None
    if not isinstance(state, dict) or state.get("version") != FORMAT_VERSION:
        return None
    return state


def save_cache(cache_dir: Path, key: str, state: dict[str, Any]) -> None:
    """Write atomically; drop older engine caches (each is several MB). Failure only costs the next start."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".engine-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        target = cache_file(cache_dir, key)
        os.replace(tmp, target)
        for old in cache_dir.glob("engine-*.pickle"):
            if old != target:
                old.unlink(missing_ok=True)
    except OSError as e:
        log.warning("cannot write engine cache in %s: %s", cache_dir, e)
