"""Engine: lists → index → a Verdict per request, saying which rule of which list at which line decided."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pixelguard.engine import index as ix
from pixelguard.engine import rules as R
from pixelguard.engine.request import Request

log = logging.getLogger(__name__)

MAX_ERRORS_PER_LIST = 200
PAGE_MEMO_SIZE = 4096
_MISS = object()


@dataclass(frozen=True)
class Verdict:
    """The answer for one request.

    ``rule``/``list``/``line``: the rule that decided (for a request an exception let through: the exception).
    ``exception``: the raw text of an exception that overrode a block; ``overridden``: the block it overrode.
    """

    blocked: bool
    rule: str | None = None
    list: str | None = None
    line: int | None = None
    exception: str | None = None
    overridden: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NOT_BLOCKED = Verdict(False)


@dataclass
class ListStats:
    rules: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


class Engine:
    """An immutable compiled set of lists. Build with :meth:`from_text` or :meth:`from_files`."""

    def __init__(self, state: dict[str, Any], *, loaded_from_cache: bool = False, build_seconds: float = 0.0):
        self.lists: list[str] = state["lists"]
        self.stats: dict[str, ListStats] = {n: ListStats(c, dict(s)) for n, (c, s) in state["stats"].items()}
        self.errors: list[str] = state["errors"]
        self._important = ix.RuleIndex.from_state(state["important"])
        self._important_exc = ix.RuleIndex.from_state(state["important_exc"])
        self._block = ix.RuleIndex.from_state(state["block"])
        self._exc = ix.RuleIndex.from_state(state["exc"])
        self._page_exc = ix.RuleIndex.from_state(state["page_exc"])
        self._page_memo: dict[str, ix.RuleT | None] = {}
        self._has_important = bool(self._important)
        self.loaded_from_cache = loaded_from_cache
        self.build_seconds = build_seconds

    # --- construction ------------------------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str, name: str = "inline") -> Engine:
        t0 = time.perf_counter()
        state = build_state([(name, text)])
        return cls(state, build_seconds=time.perf_counter() - t0)

    @classmethod
    def from_files(cls, paths: Iterable[Path | str], cache_dir: Path | None = None) -> Engine:
        """Load lists (list name = file stem). With ``cache_dir``, reuse the compiled index of identical lists.

        A file that cannot be read is reported in ``errors`` and skipped, as a bad line is.
        """
        t0 = time.perf_counter()
        named: list[tuple[str, bytes]] = []
        unreadable: list[str] = []
        for p in paths:
            p = Path(p)
            try:
                named.append((p.stem, p.read_bytes()))
            except OSError as e:
                unreadable.append(f"{p.stem}:0: cannot read {p}: {e.strerror or e}")
        key = ix.content_key(named)
        if cache_dir is not None:
            state = ix.load_cache(Path(cache_dir), key)
            if state is not None:
                state["errors"] = unreadable + state["errors"]
                return cls(state, loaded_from_cache=True, build_seconds=time.perf_counter() - t0)
        state = build_state([(n, data.decode("utf-8", errors="replace")) for n, data in named])
        if cache_dir is not None:
            ix.save_cache(Path(cache_dir), key, state)
        state["errors"] = unreadable + state["errors"]
        return cls(state, build_seconds=time.perf_counter() - t0)

    # --- matching ----------------------------------------------------------------------------------------

    def check(self, url: str, source_url: str | None = None, resource_type: str | None = None) -> Verdict:
        """Verdict for one request. Never raises: a URL without a host is simply not blocked.

        ``resource_type``: document subdocument script image stylesheet xmlhttprequest (xhr) media font
        websocket ping object other; unknown names mean other; None guesses from the URL's extension.
        """
        try:
            req = Request(url, source_url, resource_type)
            if not req.host:
                return NOT_BLOCKED
            return self._decide(req, source_url, req.tokens(), whole_host=False)
        except Exception:  # fail open: a matcher bug must not break browsing
            log.exception("engine: check failed for %r", url)
            return NOT_BLOCKED

    def check_host(self, host: str, source_url: str | None = None) -> Verdict:
        """Hosts-only mode (CONNECT): only rules that block a whole host (``||host^``, no path or type)."""
        try:
            req = Request(f"https://{host}/", source_url, None)
            if not req.host:
                return NOT_BLOCKED
            req.type = R.ALL_TYPES
            return self._decide(req, source_url, None, whole_host=True)
        except Exception:
            log.exception("engine: check_host failed for %r", host)
            return NOT_BLOCKED

    def _decide(
        self, req: Request, source_url: str | None, tokens: list[str] | None, whole_host: bool
    ) -> Verdict:
        """Precedence, and the only place it lives:

        1. an ``$important`` block wins over every exception (only an ``@@...$important`` exception beats it);
        2. otherwise an exception (``@@``, including a ``$document`` exception matching the page) beats a block;
        3. otherwise a matching block blocks; nothing matching means allowed.

        Exceptions are looked up only after a block matched: most requests match nothing, so that is the
        fast path.
        """
        # Unbound, so that choosing creates no closure on every request's path.
        find = ix.RuleIndex.find_host if whole_host else ix.RuleIndex.find
        important = find(self._important, req, tokens) if self._has_important else None
        if important is not None:
            return self._verdict(important, find(self._important_exc, req, tokens))
        block = find(self._block, req, tokens)
        if block is None:
            return NOT_BLOCKED
        return self._verdict(block, find(self._exc, req, tokens) or self._page_exception(source_url))

    def _page_exception(self, source_url: str | None) -> ix.RuleT | None:
        """An ``@@...$document`` exception matching the page allows everything on it.

        Memoised per page URL: a page's subresources all ask the same question, and the engine never changes.
        """
        if not source_url or not self._page_exc:
            return None
        memo = self._page_memo
        found = memo.get(source_url, _MISS)
        if found is _MISS:
            page = Request(source_url, None, "document")
            found = self._page_exc.find(page, page.tokens()) if page.host else None
            if len(memo) >= PAGE_MEMO_SIZE:
                memo.clear()  # cheaper than LRU bookkeeping; pages repeat in bursts
            memo[source_url] = found
        return found  # type: ignore[return-value]

    def _verdict(self, block: ix.RuleT, exc: ix.RuleT | None) -> Verdict:
        if exc is None:
            return Verdict(True, block[0], self.lists[block[1]], block[2])
        return Verdict(False, exc[0], self.lists[exc[1]], exc[2], exception=exc[0], overridden=block[0])

    @property
    def rule_count(self) -> int:
        return sum(s.rules for s in self.stats.values())


# --- building ----------------------------------------------------------------------------------------------


def build_state(named_texts: list[tuple[str, str]]) -> dict[str, Any]:
    """Parse every line of every list and build the indexes; the result is what the cache stores."""
    names: list[str] = []
    stats: dict[str, tuple[int, dict[str, int]]] = {}
    errors: list[str] = []
    parsed: list[tuple[R.Rule, int, int]] = []
    badfilters: set[str] = set()
    for li, (name, text) in enumerate(named_texts):
        names.append(name)
        skipped: Counter[str] = Counter()
        nerr = 0
        for n, raw in enumerate(text.split("\n"), 1):
            line = raw.strip()
            if not line or line[0] == "!" or (line[0] == "[" and line.endswith("]")):
                continue
            if "#" in line and R._COSMETIC.search(line):  # cheap pre-filter: a third of EasyList
                skipped["cosmetic"] += 1
                continue
            r = R.parse(line)
            if isinstance(r, R.Skip):
                if r.reason != "comment":
                    skipped[r.reason] += 1
                continue
            if isinstance(r, R.Rule) and r.is_regex:
                err = _check_regex(r.pattern)
                if err:
                    r = R.Malformed(err)
            if isinstance(r, R.Malformed):
                skipped["malformed"] += 1
                nerr += 1
                if nerr <= MAX_ERRORS_PER_LIST:
                    errors.append(f"{name}:{n}: {r.reason}")
                continue
            if r.flags & R.BADFILTER:
                badfilters.add(r.key)
                skipped["badfilter"] += 1
                continue
            parsed.append((r, li, n))
        if nerr > MAX_ERRORS_PER_LIST:
            errors.append(f"{name}: ... and {nerr - MAX_ERRORS_PER_LIST} more malformed lines")
        stats[name] = (0, skipped)

    classes: dict[str, list[tuple[ix.RuleT, str | None, list[str]]]] = {
        k: [] for k in ("important", "important_exc", "block", "exc", "page_exc")
    }
    freq: Counter[str] = Counter()
    counts: Counter[int] = Counter()
    for r, li, n in parsed:
        if badfilters and r.key in badfilters:
            stats[names[li]][1]["disabled by badfilter"] += 1
            continue
        counts[li] += 1
        dflags = ix.domain_flags(r.domains) if r.domains else 0
        t: ix.RuleT = (r.text, li, n, r.flags, r.types, r.kind, r.pattern, r.domains, dflags, R.needle_of(r))
        toks = [] if r.host else R.tokens_of(r)
        freq.update(set(toks))
        item = (t, r.host, toks)
        if r.flags & R.EXCEPTION:
            classes["important_exc" if r.flags & R.IMPORTANT else "exc"].append(item)
            if r.explicit_document:
                classes["page_exc"].append(item)
        else:
            classes["important" if r.flags & R.IMPORTANT else "block"].append(item)
    state: dict[str, Any] = {"version": ix.FORMAT_VERSION, "lists": names, "errors": errors}
    for k, items in classes.items():
        idx = ix.RuleIndex()
        idx.build(items, freq)
        state[k] = idx.state()
    state["stats"] = {names[li]: (counts[li], dict(stats[names[li]][1])) for li in range(len(names))}
    return state


def _check_regex(src: str) -> str | None:
    try:
        ix._regex_cache[src] = re.compile(src)
    except Exception as e:  # re.error, RecursionError, OverflowError...
        return f"bad regular expression: {e}"
    return None
