"""Where rules live so that a request looks at a handful of candidates, and the on-disk cache of it all.

Four maps per rule class (see RuleIndex): by host (whole-host rules, hosts files, $to=), by token (the rarest
token every matching URL contains, as uBlock Origin, Ghostery and adblock-rust do), by page domain ($domain=
rules without a useful token) and by resource type (the rest). A request looks up its host's suffixes, its
URL's distinct tokens, its page's suffixes and its type: no rule is looked at by every request.

Rules are stored as named tuples (``RuleT``) so that the cache pickles and loads quickly; a rule's matcher is
compiled the first time a request reaches it, never at load time.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pixelguard.engine import bounded_regex, index_keys, wild
from pixelguard.engine import rules as R
from pixelguard.engine.request import Request

log = logging.getLogger(__name__)

# Bump when the cached structure or rule semantics change, so old caches are ignored.
# 6: regex rules indexed by their required literal tokens; 7 and 10: needles; 8 and 9: token costs;
# 11: hosts files, $to/$denyallow/$method, entity and per-type indexes, linear wildcard matching, documents.
# 19: plain host rules kept as locations; 20: rules are RuleT named tuples; 21: plain rules in the hosts map.
# 23: no "any" index; the block index holds the important blocks too.
FORMAT_VERSION = 23


class RuleT(NamedTuple):
    """A rule as the indexes hold it: a named tuple, because the cache pickles and loads it quickly. Reading a
    field by name costs a little more than by position (measured in README, Performance); the names are worth
    that."""

    text: str  # the line as written (``||host^`` for a plain host rule kept compactly)
    list: int  # index into the engine's list names
    line: int
    flags: int  # R.EXCEPTION | R.IMPORTANT | R.THIRD_PARTY | ...
    types: int  # resource type mask (R.TYPE_BITS)
    kind: int  # R.HOST | R.SUBSTR | R.PREFIX | R.WILD | R.AFTER_PREFIX | R.AFTER_WILD | R.REGEX
    pattern: str
    domains: dict[str, bool] | None  # $domain=
    dflags: int  # HAS_INCLUDE | HAS_ENTITY of domains
    needle: str  # a literal every matching lower-cased URL contains (index_keys.needle_of)
    to: dict[str, bool] | None  # $to= / $denyallow=
    tflags: int  # HAS_INCLUDE | HAS_ENTITY of to
    methods: int  # $method= mask
    redirect: str  # $redirect= / $redirect-rule= resource
    param: str  # $removeparam= value


HAS_INCLUDE = 1
HAS_ENTITY = 2

# A plain host rule (``||host^`` with no option, a hosts-file or domain-list line) is by far the commonest rule in
# big lists: a million-line hosts file is a million of them. The index keeps each as one int under its host
# (list << 32 | line) instead of a 15-field tuple (about 140 bytes a rule instead of 470), and makes the tuple
# only when a request hits it. Its text is then ``||host^``, as uBO's logger shows a hosts-file line.
PLAIN_FLAGS = R.THIRD_PARTY | R.FIRST_PARTY | R.TYPELESS

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

_COMMON_COST = 100_000


def _token_cost(freq: Counter[str]) -> Any:
    """Sort key choosing the token a rule is indexed under: the fewest rules sharing it, unless it is a token
    most URLs contain (a bucket under "com" or "1" is looked at by nearly every request, often several times)."""

    def cost(t: str) -> tuple[int, int]:
        common = 10 * _COMMON_COST if t in _COMMON else _COMMON_COST if len(t) <= 2 or t.isdigit() else 0
        return (freq[t] + common, -len(t))

    return cost


def rule_tuple(r: R.Rule, list_index: int, line: int) -> RuleT:
    dflags = domain_flags(r.domains) if r.domains else 0
    tflags = domain_flags(r.to) if r.to else 0
    return RuleT(
        r.text,
        list_index,
        line,
        r.flags,
        r.types,
        r.kind,
        r.pattern,
        r.domains,
        dflags,
        index_keys.needle_of(r),
        r.to,
        tflags,
        r.methods,
        r.redirect,
        r.param,
    )


def is_plain_host(r: R.Rule) -> bool:
    """Is r a rule the index may keep as a bare location (see PLAIN_FLAGS): ``||host^``, nothing else?"""
    return (
        r.kind == R.HOST
        and r.flags == PLAIN_FLAGS
        and r.types == R.NETWORK_TYPES
        and r.domains is None
        and r.to is None
        and r.methods == R.ALL_METHODS
        and not r.redirect
        and not r.param
        and not r.explicit_document
        and r.host is not None
        and r.key == f"||{r.host}^"  # so that a $badfilter finds it by that key
    )


def plain_location(list_index: int, line: int) -> int:
    return list_index << 32 | line


def plain_rule(host: str, location: int) -> RuleT:
    """The tuple rule_tuple would have made for a plain host rule kept as ``location``."""
    return RuleT(
        f"||{host}^",
        location >> 32,
        location & 0xFFFFFFFF,
        PLAIN_FLAGS,
        R.NETWORK_TYPES,
        R.HOST,
        host,
        None,
        0,
        "",
        None,
        0,
        R.ALL_METHODS,
        "",
        "",
    )


def domain_matches(
    domains: dict[str, bool],
    dflags: int,
    host: str,
    suffixes: tuple[str, ...],
    entities: tuple[str, ...],
) -> bool:
    """ABP ``$domain=`` (and uBO ``$to=``) semantics: the most specific listed suffix of host decides.

    ``suffixes``: host and its parent domains, most specific first; ``entities``: uBO's entity names for host
    (``google.*``), consulted when some entry is one. ``dflags``: HAS_INCLUDE when some entry is not negated,
    HAS_ENTITY when some entry is ``name.*``.
    """
    if not host:
        return not dflags & HAS_INCLUDE
    for h in suffixes:
        v = domains.get(h)
        if v is not None:
            return v
    if dflags & HAS_ENTITY:
        for h in entities:
            v = domains.get(h)
            if v is not None:
                return v
    return not dflags & HAS_INCLUDE


def domain_flags(domains: dict[str, bool]) -> int:
    return (HAS_INCLUDE if any(domains.values()) else 0) | (
        HAS_ENTITY if any(d.endswith(".*") for d in domains) else 0
    )


def match_end(r: RuleT, req: Request) -> int:
    """Where in the URL the rule's match ends (-1: no match); only the pattern is looked at."""
    kind, pattern = r.kind, r.pattern
    url = req.url if r.flags & R.MATCH_CASE else req.url_lower
    if kind == R.HOST:
        return req.host_end
    if kind == R.SUBSTR:
        i = url.find(pattern)
        return -1 if i < 0 else i + len(pattern)
    if kind == R.PREFIX:
        return len(pattern) if url.startswith(pattern) else -1
    if kind == R.AFTER_PREFIX:
        return req.host_end + len(pattern) if url.startswith(pattern, req.host_end) else -1
    if kind == R.AFTER_WILD:
        w = wild.compiled(pattern)
        # A rest of only separators (||host^|) ends right after the host; any longer rest ends past it.
        if not w.match(url, req.host_end):
            return -1
        return req.host_end + (1 if pattern.rstrip("|") == "^" else len(pattern))
    if kind == R.WILD:
        return wild.compiled(pattern).search_end(url, req.host_start, req.host_end)
    search = bounded_regex.compile_search(pattern)
    return search(url) if search else -1


def matches(r: RuleT, req: Request) -> bool:
    """Does rule ``r`` apply to ``req``? The cheapest test that most candidates fail comes first."""
    flags, types, kind, pattern, domains = r.flags, r.types, r.kind, r.pattern, r.domains
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
    if domains is not None and not domain_matches(
        domains, r.dflags, req.source_host, req.source_suffixes, req.source_entities
    ):
        return False
    if r.to is not None and not domain_matches(r.to, r.tflags, req.host, req.suffixes, req.entities):
        return False
    if r.methods != R.ALL_METHODS and not r.methods & req.method:
        return False
    if kind <= R.PREFIX or kind == R.AFTER_PREFIX:
        return True
    if kind == R.WILD:
        return wild.compiled(pattern).search(url, req.host_start, req.host_end)
    if kind == R.AFTER_WILD:
        return wild.compiled(pattern).match(url, req.host_end)
    search = bounded_regex.compile_search(pattern)
    return search is not None and search(url) >= 0


class RuleIndex:
    """One class of rules (important blocks, blocks, exceptions, ...) indexed so that a request looks at a
    handful of candidates and no rule is looked at by every request:

    - ``hosts``: rules anchored to a whole host (``||host^``, ``||host/path``, hosts-file lines) and rules
      limited by ``$to=`` to some request domains, keyed by each such host or entity (``google.*``);
    - ``tokens``: rules under the rarest token every URL they match contains;
    - ``sources``: rules limited by ``$domain=`` to some pages (entities included), keyed by those pages'
      domains, when they have no useful token;
    - ``by_type``: what is left (``*$ping,third-party``, token-less regexes), per resource type.
    """

    __slots__ = (
        "_page_types",
        "_typed",
        "by_type",
        "entity_hosts",
        "host_pages",
        "hosts",
        "pool",
        "sources",
        "tokens",
    )

    def __init__(self) -> None:
        # host -> its rules; a host whose only rule is a plain one maps to that rule's plain_location (an int):
        # one lookup per suffix finds both kinds, and a million-line hosts file costs an int a line.
        self.hosts: dict[str, list[RuleT] | int] = {}
        # Whole-host rules limited to listed pages: host -> page domain (or entity) -> rules.
        self.host_pages: dict[str, dict[str, list[RuleT]]] = {}
        # host -> the types its host_pages rules cover: most requests to a host pass them by without a lookup
        # per page domain (uBO's lists hold 74 pages under "com", all for $xhr rules). See _derive.
        self._page_types: dict[str, int] = {}
        self.tokens: dict[bytes, list[RuleT]] = {}  # keyed as Request.tokens() gives them
        self.sources: dict[str, list[RuleT]] = {}
        self.by_type: dict[int, list[RuleT]] = {}
        self.pool: list[RuleT] = []  # regex rules with nothing to index them by, matched as one RE2 set
        # type mask -> its pool rules and their RE2 set: built on first use (see _pool_for), never cached on disk
        self._typed: dict[int, tuple[list[RuleT], bounded_regex.PatternSet | None]] = {}
        self.entity_hosts = False  # some hosts key is an entity (google.*): requests look up theirs too

    def __bool__(self) -> bool:
        return bool(self.hosts or self.host_pages or self.tokens or self.sources or self.by_type or self.pool)

    def build(
        self, items: list[tuple[RuleT, str | None, list[str]]], freq: Counter[str], plain: dict[str, Any]
    ) -> None:
        """Index items (rule, its whole host or None, its tokens); ``plain`` holds the plain host rules (taken as
        this index's hosts map, not copied: the caller passes each index its own)."""
        self.hosts = plain
        cost = _token_cost(freq)
        for r, host, toks in items:
            if host:
                pages = _includes(r.domains)
                if pages and all(_specific(d) for d in pages):
                    # ||doubleclick.net^$domain=site.example: hundreds share a host; each page finds its own.
                    by_page = self.host_pages.setdefault(host, {})
                    for d in pages:
                        by_page.setdefault(d, []).append(r)
                else:
                    self._add(self.hosts, [host], r)
                continue
            best = min(toks, key=cost) if toks else None
            good_token = best is not None and cost(best)[0] < _COMMON_COST
            to, domains = r.to, r.domains
            sources = _includes(domains)
            targets = _includes(to)
            if sources and all(_specific(d) for d in sources):
                self._add(self.sources, sources, r)  # limited to listed pages: found through the page's host
            elif targets and all(_specific(d) for d in targets):
                self._add(self.hosts, targets, r)  # limited to listed request domains: through the host
            elif good_token:
                self.tokens.setdefault(best.encode(), []).append(r)  # type: ignore[union-attr]
            elif r.kind == R.REGEX and bounded_regex.prefilter(r.pattern, bool(r.flags & R.MATCH_CASE)):
                self.pool.append(r)  # nothing to index it by: asked in one pass with the others
            elif targets:
                self._add(self.hosts, targets, r)
            elif sources:
                self._add(self.sources, sources, r)
            elif best is not None:
                self.tokens.setdefault(best.encode(), []).append(r)
            elif r.needle:
                self.pool.append(r)  # %2Fpixel.gif%3F: no token, but its literal joins the one-pass set
            else:
                bit = 1
                while bit <= r.types:
                    if r.types & bit:
                        self.by_type.setdefault(bit, []).append(r)
                    bit <<= 1
        self._derive()

    def _derive(self) -> None:
        """What is computed from the index rather than stored with it (built, or loaded from the cache)."""
        for host, by_page in self.host_pages.items():
            mask = 0
            for rules in by_page.values():
                for r in rules:
                    mask |= r.types
            self._page_types[host] = mask

    def _add(self, where: dict[str, Any], keys: list[str], r: RuleT) -> None:
        for d in keys:
            bucket = where.get(d)
            if bucket is None:
                where[d] = [r]
            elif isinstance(bucket, int):
                where[d] = [plain_rule(d, bucket), r]  # a plain rule and another for the same host
            else:
                bucket.append(r)
            if where is self.hosts and d.endswith(".*"):
                self.entity_hosts = True

    def _pool_for(self, rtype: int) -> tuple[list[RuleT], bounded_regex.PatternSet | None]:
        """The pool's rules of a type mask, and their RE2 set when there are more than SMALL_POOL.

        Asking an RE2 set has a fixed call overhead however few patterns it holds, and most types have few pool
        rules (a handful for most types in uBO's lists); a handful is cheaper tested one by one,
        where the type, party and domain tests reject most before any regex runs. Built on first use per type.
        """
        got = self._typed.get(rtype)
        if got is None:
            rules = [r for r in self.pool if r.types & rtype]
            big = len(rules) > SMALL_POOL
            got = self._typed[rtype] = (
                rules,
                bounded_regex.PatternSet([_prefilter(r) for r in rules]) if big else None,
            )
        return got

    # One walk of the maps, in one order, for both questions: ``find`` (the first rule that matches: the hot
    # path, which tests a rule's type and literal before calling the matcher) and ``candidates`` (every rule
    # that may match, each bucket once: for the few callers that need them all). Each map has one helper that
    # knows how a request finds its buckets there; find and candidates both go through them.

    def host_buckets(self, req: Request) -> list[list[RuleT]]:
        """The whole-host buckets of req's host suffixes and entity names (a plain rule made a rule tuple)."""
        out = [self._host_rules(h) for h in req.suffixes]
        if self.entity_hosts:
            out += [self._host_rules(h) for h in req.entities]
        return [b for b in out if b]

    def names(self, req: Request) -> bool:
        """Does some rule here name req's host or a parent domain in its host part, with a path, a page limit
        or any other option (``||host^``, ``||host/path``, ``||host^$domain=site``)?"""
        if self.host_buckets(req):
            return True
        return bool(self.host_pages) and any(h in self.host_pages for h in req.suffixes)

    def _page_buckets(self, req: Request, rt: int) -> list[list[RuleT]]:
        """Whole-host rules limited to pages, for req's host and page, when some of them cover its type."""
        out: list[list[RuleT]] = []
        if not self.host_pages or not req.source_suffixes:
            return out
        page_types = self._page_types
        for h in req.suffixes:
            if page_types.get(h, 0) & rt:
                by_page = self.host_pages[h]
                out += [b for p in req.source_suffixes + req.source_entities if (b := by_page.get(p))]
        return out

    def _source_buckets(self, req: Request) -> list[list[RuleT]]:
        sources = self.sources
        return [b for h in req.source_suffixes + req.source_entities if (b := sources.get(h))]

    def _pool_matches(self, req: Request, rt: int) -> list[RuleT]:
        """The pool rules of rt that may match (through their RE2 set when there are many)."""
        rules, pattern_set = self._pool_for(rt)
        return rules if pattern_set is None else [rules[i] for i in pattern_set.matching(req.url_lower)]

    def candidates(self, req: Request, tokens: list[bytes] | None) -> Iterator[RuleT]:
        """Every rule that may match req, each bucket once (the slow, general walk; find is the fast one)."""
        rt = req.type
        for bucket in self.host_buckets(req):
            yield from bucket
        for bucket in self._page_buckets(req, rt):
            yield from bucket
        for t in tokens or ():
            yield from self.tokens.get(t, ())
        for bucket in self._source_buckets(req):
            yield from bucket
        for bit, bucket in self.by_type.items():
            if bit & rt:
                yield from bucket
        if self.pool:
            yield from self._pool_matches(req, rt)

    def find(self, req: Request, tokens: list[bytes] | None) -> RuleT | None:
        """The first rule of this index that matches ``req`` (None when none does)."""
        rt = req.type
        url = req.url_lower
        if self.hosts:
            hit = self._find_host(req, rt, url)
            if hit is not None:
                return hit
        if self.host_pages and req.source_suffixes:
            page_types = self._page_types
            for h in req.suffixes:
                if page_types.get(h, 0) & rt:  # most hosts have no page-limited rule of this type: no lookup
                    hit = self._find_on_pages(self.host_pages[h], req, rt, url)
                    if hit is not None:
                        return hit
        if self.tokens and tokens:
            # map/filter run the dict lookups in C: most of a URL's ~20 tokens index nothing. The scan is _first's,
            # inlined: the token buckets are the most visited, and a call per bucket cost 7% of the median.
            for bucket in filter(None, map(self.tokens.get, tokens)):
                for r in bucket:
                    if r.types & rt and r.needle in url and matches(r, req):
                        return r
        if self.sources:
            sources = self.sources
            for h in req.source_suffixes + req.source_entities:  # _find_on_pages, inlined (visited as often)
                for r in sources.get(h, ()):
                    if r.types & rt and r.needle in url and matches(r, req):
                        return r
        typed = self.by_type.get(rt)
        if typed:
            hit = _first(typed, req, rt, url)
            if hit is not None:
                return hit
        return self._find_in_pool(req, rt) if self.pool else None

    def _find_in_pool(self, req: Request, rt: int) -> RuleT | None:
        """find's walk of the pool (_pool_matches without the list: most requests reach here and match nothing)."""
        rules, pattern_set = self._pool_for(rt)
        if pattern_set is None:
            for r in rules:
                if matches(r, req):
                    return r
            return None
        for i in pattern_set.matching(req.url_lower):
            r = rules[i]
            if matches(r, req):
                return r
        return None

    @staticmethod
    def _find_on_pages(by_page: dict[str, list[RuleT]], req: Request, rt: int, url: str) -> RuleT | None:
        """find's walk of a map keyed by page domain (sources, or one host's host_pages). Two loops on purpose:
        walking ``source_suffixes + source_entities`` would build a tuple on every request's path."""
        for p in req.source_suffixes:
            bucket = by_page.get(p)
            if bucket:
                hit = _first(bucket, req, rt, url)
                if hit is not None:
                    return hit
        for p in req.source_entities:
            bucket = by_page.get(p)
            if bucket:
                hit = _first(bucket, req, rt, url)
                if hit is not None:
                    return hit
        return None

    def _find_host(self, req: Request, rt: int, url: str) -> RuleT | None:
        """find's walk of the hosts map: a plain rule is an int there, answered without making its tuple."""
        hosts = self.hosts
        for h in req.suffixes:
            bucket = hosts.get(h)
            if bucket:
                if isinstance(bucket, int):  # a plain host rule: every party and network type
                    if rt & R.NETWORK_TYPES:
                        return plain_rule(h, bucket)
                    continue
                for r in bucket:  # _first, inlined (see find)
                    if r.types & rt and r.needle in url and matches(r, req):
                        return r
        if self.entity_hosts:
            for h in req.entities:
                hit = _first(self._host_rules(h), req, rt, url)
                if hit is not None:
                    return hit
        return None

    def find_host(self, req: Request, tokens: list[bytes] | None = None) -> RuleT | None:
        """The first whole-host rule (``||host^`` with no type or path restriction) matching req's host.

        ``tokens`` is ignored: the signature is ``find``'s, so that the engine can use either.
        """
        for h in req.suffixes:
            rules = self._host_rules(h)
            by_page = self.host_pages.get(h)
            if by_page and req.source_suffixes:
                for p in req.source_suffixes + req.source_entities:
                    rules += by_page.get(p, ())
            for r in rules:
                if r.kind == R.HOST and r.types & R.NETWORK_TYPES == R.NETWORK_TYPES and matches(r, req):
                    return r
        return None

    def _host_rules(self, host: str) -> list[RuleT]:
        bucket = self.hosts.get(host)
        if bucket is None:
            return []
        return [plain_rule(host, bucket)] if isinstance(bucket, int) else [*bucket]

    def state(self) -> tuple[Any, ...]:
        return (
            self.hosts,
            self.host_pages,
            self.tokens,
            self.sources,
            self.by_type,
            self.pool,
            self.entity_hosts,
        )

    @classmethod
    def from_state(cls, state: tuple[Any, ...]) -> RuleIndex:
        idx = cls()
        (
            idx.hosts,
            idx.host_pages,
            idx.tokens,
            idx.sources,
            idx.by_type,
            idx.pool,
            idx.entity_hosts,
        ) = state
        idx._derive()
        return idx


def _first(bucket: list[RuleT], req: Request, rt: int, url: str) -> RuleT | None:
    """The first rule of a bucket that matches. Testing r.types and r.needle here, before the call, spares most of
    the calls (the hot path)."""
    for r in bucket:
        if r.types & rt and r.needle in url and matches(r, req):
            return r
    return None


SMALL_POOL = 3  # pool rules of a type tested one by one rather than through an RE2 set (see _pool_for)


def _prefilter(r: RuleT) -> str:
    """What the pool's RE2 set looks for on behalf of rule r: its regex, relaxed, or its literal."""
    if r.kind == R.REGEX:
        return bounded_regex.prefilter(r.pattern, bool(r.flags & R.MATCH_CASE)) or ""
    return re.escape(r.needle)


def _includes(domains: dict[str, bool] | None) -> list[str]:
    return [d for d, include in domains.items() if include] if domains else []


def _specific(domain: str) -> bool:
    """A domain that few requests have (example.com, google.*), unlike a bare top-level domain (com)."""
    return "." in domain


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
    from pixelguard.fileio import atomic_write

    try:
        target = cache_file(cache_dir, key)
        atomic_write(target, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        for old in cache_dir.glob("engine-*.pickle"):
            if old != target:
                old.unlink(missing_ok=True)
    except OSError as e:
        log.warning("cannot write engine cache in %s: %s", cache_dir, e)
