"""Engine: lists → index → a Verdict per request, saying which rule of which list at which line decided."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pixelguard.engine import bounded_regex, index_keys, preprocess
from pixelguard.engine import index as ix
from pixelguard.engine import rules as R
from pixelguard.engine.request import Request
from pixelguard.limits import HOST_VERDICTS, MAX_HOST, MAX_RULES_PER_LIST, PAGE_MEMO_SIZE

log = logging.getLogger(__name__)

MAX_ERRORS_PER_LIST = 200
_MISS = object()
DOCUMENT = R.TYPE_BITS["document"]
OTHER = R.TYPE_BITS["other"]
# Index classes in the built state. Each is a RuleIndex; see _decide for how they combine.
CLASSES = (
    "block",  # every block, important ones included: one lookup answers "nothing blocks this" for most requests
    "important",  # the important blocks again, for whether one also matches when an exception does
    "important_exc",
    "exc",
    "page_exc",
    "redirect_rule",
    "redirect_exc",
    "removeparam",
    "removeparam_exc",
    "urlskip",
    "urlskip_exc",
)


class Verdict(NamedTuple):
    """The answer for one request (a named tuple: one is made for every blocked request, and a frozen dataclass
    costs several times as much to make; README, Performance).

    ``rule``/``list``/``line``: the rule that decided (for a request an exception let through: the exception).
    ``exception``: the raw text of an exception that overrode a block; ``overridden``: the block it overrode.
    ``redirect``: for a block by a ``$redirect=`` rule, the neutral resource it names (uBO's names, e.g.
    ``1x1.gif``, ``noop.js``); None otherwise (``Engine.redirect`` finds a ``$redirect-rule=`` one).
    """

    blocked: bool
    rule: str | None = None
    list: str | None = None
    line: int | None = None
    exception: str | None = None
    overridden: str | None = None
    redirect: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


NOT_BLOCKED = Verdict(False)


@dataclass
class ListStats:
    rules: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ParamRule:
    """A ``$removeparam`` rule that applies to a request: what to remove, and where the rule comes from."""

    param: str  # "" removes every parameter; "/re/" a regex; "~name" keeps only that one; else one name
    rule: str
    list: str
    line: int


class Engine:
    """An immutable compiled set of lists. Build with :meth:`from_text` or :meth:`from_files`."""

    def __init__(self, state: dict[str, Any], *, loaded_from_cache: bool = False):
        self.lists: list[str] = state["lists"]
        self.stats: dict[str, ListStats] = {n: ListStats(c, dict(s)) for n, (c, s) in state["stats"].items()}
        self.errors: list[str] = state["errors"]
        self._indexes = idx = {k: ix.RuleIndex.from_state(state[k]) for k in CLASSES}
        self._important = idx["important"]
        self._important_exc = idx["important_exc"]
        self._block = idx["block"]
        self._exc = idx["exc"]
        self._page_exc = idx["page_exc"]
        self._redirect_rule = idx["redirect_rule"]
        self._redirect_exc = idx["redirect_exc"]
        self._removeparam = idx["removeparam"]
        self._removeparam_exc = idx["removeparam_exc"]
        self._urlskip = idx["urlskip"]
        self._urlskip_exc = idx["urlskip_exc"]
        self._page_memo: dict[str, ix.RuleT | None] = {}
        self._whole_memo: dict[str, Verdict] = {}
        self._has_important = bool(self._important)
        self.loaded_from_cache = loaded_from_cache

    # --- construction ------------------------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str, name: str = "inline") -> Engine:
        named, errors = preprocess.expand(name, text, None)
        state = build_state(named)
        state["errors"] = errors + state["errors"]
        return cls(state)

    @classmethod
    def from_files(cls, paths: Iterable[Path | str], cache_dir: Path | None = None) -> Engine:
        """Load lists (list name = file stem). With ``cache_dir``, reuse the compiled index of identical lists.

        ``!#include`` targets are read beside the list (or from ``NAME.include/`` beside it, where list updates
        keep a subscription's included files). A file that cannot be read is reported in ``errors`` and
        skipped, as a bad line is.
        """
        named: list[tuple[str, str]] = []
        problems: list[str] = []
        for p in paths:
            p = Path(p)
            try:
                text = p.read_bytes().decode("utf-8", errors="replace")
            except OSError as e:
                problems.append(f"{p.stem}:0: cannot read {p}: {e.strerror or e}")
                continue
            parts, errors = preprocess.expand(p.stem, text, include_reader(p))
            lines = sum(part.count("\n") + 1 for _, part in parts)
            if lines > MAX_RULES_PER_LIST:
                # Not loaded at all: a list this size would take the proxy minutes and gigabytes to build.
                problems.append(
                    f"{p.stem}:0: {lines:,} lines, more than the {MAX_RULES_PER_LIST:,} a list may hold: not "
                    "loaded (use a smaller list, or split it)"
                )
                continue
            named += parts
            problems += errors
        key = ix.content_key([(n, t.encode("utf-8", errors="replace")) for n, t in named])
        if cache_dir is not None:
            state = ix.load_cache(Path(cache_dir), key)
            if state is not None:
                state["errors"] = problems + state["errors"]
                return cls(state, loaded_from_cache=True)
        state = build_state(named)
        if cache_dir is not None:
            ix.save_cache(Path(cache_dir), key, state)
        state["errors"] = problems + state["errors"]
        return cls(state)

    def busiest_tokens(self, n: int) -> list[str]:
        """The n URL tokens that lead to the most rules: the words a hostile URL would repeat to make the engine
        work hardest (the hostile-URL test and benchmark build their worst cases from them)."""
        count: Counter[bytes] = Counter()
        for name, index in self._indexes.items():
            if name != "important":  # the block index holds its rules too
                for token, bucket in index.tokens.items():
                    count[token] += len(bucket)
        return [t.decode() for t, _ in count.most_common(n)]

    # --- matching ----------------------------------------------------------------------------------------

    def check(
        self,
        url: str,
        source_url: str | None = None,
        resource_type: str | None = None,
        method: str | None = None,
    ) -> Verdict:
        """Verdict for one request. Never raises: a URL without a host is simply not blocked.

        ``resource_type``: document subdocument script image stylesheet xmlhttprequest (xhr) media font
        websocket ping object other; unknown names mean other; None guesses from the URL's extension.
        ``method``: the HTTP method (GET when not given), for ``$method=`` rules.
        """
        try:
            req = Request(url, source_url, resource_type, method)
        except Exception:  # fail open: a matcher bug must not break browsing
            log.exception("engine: check failed for %.200r", url)
            return NOT_BLOCKED
        return self.decide(req)

    def decide(self, req: Request) -> Verdict:
        """``check`` for a request model built once by the caller (the proxy asks several questions of one)."""
        try:
            if not req.host:
                return NOT_BLOCKED
            if req.type == DOCUMENT:
                return self._decide_document(req.url, req.method_name)
            return self._decide(req, req.source_url, req.tokens(), whole_host=False)
        except Exception:  # fail open: a matcher bug must not break browsing
            log.exception("engine: check failed for %.200r", req.url)
            return NOT_BLOCKED

    def names_host(self, host: str) -> bool:
        """Does some rule that blocks, redirects or cleans name ``host`` or one of its parent domains (down to
        its registrable domain) in its host part (``||host^``, ``||host/path``, a hosts-file line)?

        The TLS learner asks: a host a list has rules for is never passed through undecrypted, since its
        rules could not apply to what it cannot see."""
        from pixelguard.engine.request import host_info, normal_host

        domain, suffixes, _ = host_info(normal_host(host))
        if not domain:
            return False
        names = suffixes[: len(suffixes) - domain.count(".")]  # the host up to its registrable domain
        for name in ("block", "redirect_rule", "removeparam", "urlskip"):
            index = self._indexes[name]
            if any(n in index.hosts or n in index.host_pages for n in names):
                return True
        return False

    def check_host(self, host: str, source_url: str | None = None) -> Verdict:
        """Hosts-only mode (CONNECT): only rules that block a whole host (``||host^``, no path or type)."""
        try:
            # An IPv6 literal CONNECT target comes without brackets; a URL needs them.
            authority = f"[{host}]" if ":" in host and not host.startswith("[") else host
            req = Request(f"https://{authority}/", source_url, None)
            if not req.host:
                return NOT_BLOCKED
            req.type = R.ALL_TYPES
            return self._decide(req, source_url, None, whole_host=True)
        except Exception:
            log.exception("engine: check_host failed for %.200r", host)
            return NOT_BLOCKED

    def blocks_whole_host(self, host: str) -> Verdict:
        """Is every request to host blocked, whatever its page, type, method, path or party? The question a
        CONNECT asks in full mode, where refusing the tunnel spares both TLS handshakes and a forged certificate.

        Blocked when a whole-host rule names host or a parent domain with nothing that limits it (no type,
        party, ``$domain``, ``$to``, ``$method`` or ``$redirect`` option) and nothing on host could undo it for
        some request: no exception names host or a parent domain in its host part (with any options: it may be
        excepted on some page; for an ``$important`` block, only an important exception counts), and no
        ``$redirect-rule`` does (its request must be answered with the resource). Two kinds of exception cannot
        be seen at CONNECT, where only the host is known: generic ones without a host (``@@/path``), which are
        ignored as DNS-level blockers ignore them (AdGuard's DNS filtering applies host rules only), and page
        exceptions (``$document``), which the pipeline asks about per client (:meth:`has_page_exceptions`).

        Memoised per host, up to HOST_VERDICTS hosts (an engine never changes; a new one starts empty)."""
        memo = self._whole_memo
        found = memo.get(host)
        if found is not None:
            return found
        found = NOT_BLOCKED
        try:
            authority = f"[{host}]" if ":" in host and not host.startswith("[") else host
            req = Request(f"https://{authority}/", None, None)
            if req.host:
                hit = _unconditional(self._block, req)
                undoers = (
                    (self._important_exc,)
                    if hit is not None and hit.flags & R.IMPORTANT
                    else (self._exc, self._important_exc)
                )
                if hit is not None and not any(i.names(req) for i in (*undoers, self._redirect_rule)):
                    found = self._verdict(hit, None)
        except Exception:
            log.exception("engine: blocks_whole_host failed for %.200r", host)
            return NOT_BLOCKED
        if len(host) <= MAX_HOST:  # a hostile name longer than any real one is not worth remembering
            if len(memo) >= HOST_VERDICTS:
                memo.clear()  # as the page memo: cheaper than LRU bookkeeping
            memo[host] = found
        return found

    @property
    def has_page_exceptions(self) -> bool:
        """Are there ``@@...$document`` exceptions, which allow every request a page they match makes?"""
        return bool(self._page_exc)

    def page_exception(self, page_url: str) -> str | None:
        """The ``$document`` exception that allows everything on the page at page_url, if one does."""
        r = self._page_exception(page_url)
        return r.text if r is not None else None

    def allowed(self, url: str, source_url: str | None = None, resource_type: str | None = None) -> Verdict:
        """Does an exception (``@@``, or a ``$document`` exception for the page) cover this request, whether or
        not a rule would block it? The proxy asks before replacing a pixel: what the user allowed stays."""
        try:
            req = Request(url, source_url, resource_type)
        except Exception:
            log.exception("engine: allowed failed for %.200r", url)
            return NOT_BLOCKED
        return self.exception_for(req)

    def exception_for(self, req: Request) -> Verdict:
        """``allowed`` for a request model built once by the caller."""
        try:
            if not req.host:
                return NOT_BLOCKED
            exc = self._exc.find(req, req.tokens()) or self._page_exception(req.source_url)
            if exc is None:
                return NOT_BLOCKED
            return Verdict(False, exc.text, self.lists[exc.list], exc.line, exception=exc.text)
        except Exception:
            log.exception("engine: allowed failed for %.200r", req.url)
            return NOT_BLOCKED

    def redirect(
        self, url: str, source_url: str | None = None, resource_type: str | None = None
    ) -> str | None:
        """For a request something blocks: the neutral resource a ``$redirect-rule=`` names for it (uBO's
        names, e.g. ``noop.js``), unless an ``@@...$redirect-rule`` exception cancels it; None when none does.

        Separate from check, as uBO's redirect step is separate from its matching (the answer is chosen only
        for requests that are blocked)."""
        if not self._redirect_rule:
            return None
        try:
            req = Request(url, source_url, resource_type)
            tokens = req.tokens()
            r = self._redirect_rule.find(req, tokens)
            if r is None or self._redirect_exc.find(req, tokens) is not None:
                return None
            return r.redirect or None
        except Exception:
            log.exception("engine: redirect failed for %.200r", url)
            return None

    def removeparams(
        self, url: str, source_url: str | None = None, resource_type: str | None = None
    ) -> list[ParamRule]:
        """The ``$removeparam`` rules that apply to a request (none when an exception names the same value)."""
        if not self._removeparam or "?" not in url:
            return []
        try:
            req = Request(url, source_url, resource_type)
        except Exception:
            log.exception("engine: removeparams failed for %.200r", url)
            return []
        return self.removeparams_for(req)

    def removeparams_for(self, req: Request) -> list[ParamRule]:
        """``removeparams`` for a request model built once by the caller."""
        if not self._removeparam:
            return []
        try:
            if not req.host or "?" not in req.url:
                return []
            tokens = req.tokens()
            out = []
            url = req.url_lower
            excepted = {
                r.param
                for r in self._removeparam_exc.candidates(req, tokens)
                if r.needle in url and ix.matches(r, req)
            }
            if "" in excepted:  # @@...$removeparam: nothing is removed from these requests
                return []
            seen = set()
            for r in self._removeparam.candidates(req, tokens):
                if r.needle not in url or r.param in excepted or r.param in seen:
                    continue
                if not ix.matches(r, req):
                    continue
                seen.add(r.param)
                out.append(ParamRule(r.param, r.text, self.lists[r.list], r.line))
            return out
        except Exception:
            log.exception("engine: removeparams failed for %.200r", req.url)
            return []

    def urlskips_for(self, req: Request) -> list[ParamRule]:
        """The ``$urlskip`` rules that apply to a request, in list order (``param`` holds the steps); none when
        an exception names the same steps or none (``@@...$urlskip``). The caller runs the steps (uBO: the
        first whose steps give a URL wins) and asks only for the types uBO skips (rules.URLSKIP_TYPES)."""
        if not self._urlskip or not req.host:
            return []
        try:
            tokens = req.tokens()
            url = req.url_lower
            excepted = {
                r.param
                for r in self._urlskip_exc.candidates(req, tokens)
                if r.needle in url and ix.matches(r, req)
            }
            if "" in excepted:
                return []
            found = [
                r
                for r in self._urlskip.candidates(req, tokens)
                if r.needle in url and r.param not in excepted and ix.matches(r, req)
            ]
            found.sort(key=lambda r: (r.list, r.line))
            return [ParamRule(r.param, r.text, self.lists[r.list], r.line) for r in found]
        except Exception:
            log.exception("engine: urlskips failed for %.200r", req.url)
            return []

    def _decide(
        self, req: Request, source_url: str | None, tokens: list[bytes] | None, whole_host: bool
    ) -> Verdict:
        """Precedence, and the only place it lives (page loads add one step: _decide_document):

        1. an ``$important`` block wins over every exception (only an ``@@...$important`` exception beats it);
        2. otherwise an exception (``@@``, including a ``$document`` exception matching the page) beats a block;
        3. otherwise a matching block blocks; nothing matching means allowed.

        Lookups are ordered by how often they answer: most requests match no block at all, so one lookup over
        every block (the block index holds the important ones too) comes first; exceptions are looked up only
        then, and whether an $important block also matches matters only when an exception does.
        """
        # Unbound, so that choosing creates no closure on every request's path.
        find: Any = ix.RuleIndex.find_host if whole_host else ix.RuleIndex.find
        hit = find(self._block, req, tokens)
        if hit is None:
            return NOT_BLOCKED
        if hit.flags & R.IMPORTANT:
            return self._verdict(hit, find(self._important_exc, req, tokens))
        exc = find(self._exc, req, tokens) or self._page_exception(source_url)
        if exc is not None and self._has_important:
            important = find(self._important, req, tokens)
            if important is not None:
                return self._verdict(important, find(self._important_exc, req, tokens))
        return self._verdict(hit, exc)

    def _decide_document(self, url: str, method: str | None) -> Verdict:
        """A top-level page load, as uBO decides it (traffic.js, shouldStrictBlock).

        Rules that name the ``document`` type apply as to any request ("explicit"). A rule without a type
        option applies only when its match ends where the page's host ends, as ``||tracker.example^`` does and
        ``/exoclick.`` does not ("implicit"): a generic rule never blocks a whole site. A typeless exception
        that matches lets the page load. The page is its own context: first-party, its host is the ``$domain``.
        """
        req = Request(url, url, "document", method)
        tokens = req.tokens()
        # Each index walked once for both readings: candidates of either type, needle-checked once.
        req.type = rt = DOCUMENT | OTHER
        text = req.url_lower
        # The type test first: it is cheap, and a needle test costs a scan of the URL, however long it is.
        cands = {
            name: [r for r in index.candidates(req, tokens) if r.types & rt and r.needle in text]
            for name, index in (
                ("important_exc", self._important_exc),
                ("block", self._block),
                ("exc", self._exc),
            )
        }
        # The block index holds the important blocks too, in the order the important index holds them.
        blocks = cands["block"]
        cands["important"] = [r for r in blocks if r.flags & R.IMPORTANT]
        cands["block"] = [r for r in blocks if not r.flags & R.IMPORTANT]
        req.type = DOCUMENT
        imp = _first(cands["important"], req)
        if imp is not None and _first(cands["important_exc"], req) is None:
            return self._verdict(imp, None)
        block = _first(cands["block"], req)
        explicit_exc = _first(cands["exc"], req)
        # rs: 0 nothing, 1 block, 2 exception (uBO checks exceptions even without a block here).
        rs = 2 if explicit_exc is not None else 1 if block is not None else 0

        req.type = OTHER  # a typeless rule's mask holds every network type, "other" among them
        valid = _ends_at_host
        implicit_imp = _first(cands["important"], req, typeless=True, valid=valid)
        if implicit_imp is not None and _first(cands["important_exc"], req, typeless=True) is None:
            return self._verdict(implicit_imp, None)
        implicit_block = _first(cands["block"], req, typeless=True, valid=valid)
        implicit_exc = _first(cands["exc"], req, typeless=True)
        # uBO's table: the implicit answer stands when nothing explicit matched, or when it is an exception and
        # the explicit one is not; otherwise the explicit answer stands.
        if rs == 0 or (implicit_exc is not None and rs != 2):
            decided, exc = implicit_block, implicit_exc
        else:
            decided, exc = block, explicit_exc
        overridden = decided or implicit_block or block
        if overridden is None:
            return NOT_BLOCKED
        return self._verdict(overridden, exc)

    def _page_exception(self, source_url: str | None) -> ix.RuleT | None:
        """An ``@@...$document`` exception matching the page allows everything on it.

        Memoised per page URL: a page's subresources all ask the same question, and the engine never changes.
        """
        if not source_url or not self._page_exc:
            return None
        memo = self._page_memo
        found = memo.get(source_url, _MISS)
        if found is _MISS:
            page = Request(source_url, source_url, "document")
            found = self._page_exc.find(page, page.tokens()) if page.host else None
            if len(source_url) <= 2048:  # a hostile page URL is not worth remembering
                if len(memo) >= PAGE_MEMO_SIZE:
                    memo.clear()  # cheaper than LRU bookkeeping; pages repeat in bursts
                memo[source_url] = found
        return found  # type: ignore[return-value]

    def _verdict(self, block: ix.RuleT, exc: ix.RuleT | None) -> Verdict:
        if exc is None:
            return Verdict(
                True, block.text, self.lists[block.list], block.line, redirect=block.redirect or None
            )
        return Verdict(
            False, exc.text, self.lists[exc.list], exc.line, exception=exc.text, overridden=block.text
        )

    @property
    def rule_count(self) -> int:
        return sum(s.rules for s in self.stats.values())

    def whole_host_count(self) -> int:
        """How many hosts a rule blocks whole (``||host^``, a hosts-file line): all hosts-only mode can use."""
        return len(self._block.hosts)  # important blocks included (see CLASSES)


def _first(
    candidates: list[ix.RuleT], req: Request, *, typeless: bool = False, valid: Any = None
) -> ix.RuleT | None:
    """The first candidate that matches req (typeless rules only, and passing valid, when asked)."""
    for r in candidates:
        if typeless and not r.flags & R.TYPELESS:
            continue
        if ix.matches(r, req) and (valid is None or valid(r, req)):
            return r
    return None


_BOTH_PARTIES = R.THIRD_PARTY | R.FIRST_PARTY
_NOT_PLAIN_BLOCK = R.EXCEPTION | R.BADFILTER | R.REDIRECT_RULE | R.REDIRECT_ONLY | R.MODIFIERS


def _unconditional(index: ix.RuleIndex, req: Request) -> ix.RuleT | None:
    """A whole-host rule for req's host (or a parent domain) that blocks every request there: no option limits
    it to some types, pages, parties, destinations or methods; None too when some rule there names a resource
    to answer with (``||host/x.js$redirect=noop.js``): that request needs its answer, not a refused tunnel."""
    buckets = index.host_buckets(req)
    if any(r.redirect for bucket in buckets for r in bucket):
        return None
    for bucket in buckets:
        for r in bucket:
            if (
                r.kind == R.HOST
                and r.types & R.NETWORK_TYPES == R.NETWORK_TYPES
                and r.flags & _BOTH_PARTIES == _BOTH_PARTIES
                and not r.flags & _NOT_PLAIN_BLOCK
                and r.domains is None
                and r.to is None
                and r.methods == R.ALL_METHODS
            ):
                return r
    return None


def _ends_at_host(r: ix.RuleT, req: Request) -> bool:
    """uBO's validateStrictBlock: the match ends at the end of the page's host (or one separator after it)."""
    if r.kind == R.HOST:
        return True
    if not any(c.isalnum() for c in r.text):
        return False
    end = ix.match_end(r, req)
    if end < 0:
        return False
    past = end - req.host_end
    return past in (0, 1) or (past == 2 and req.url_lower[req.host_end : req.host_end + 1] == ".")


def include_reader(path: Path) -> preprocess.IncludeReader:
    """Reads ``!#include`` targets of the list at path: from NAME.include/ beside it, else beside it."""

    def read(target: str) -> tuple[str | None, str | None]:
        for base in (path.parent / f"{path.stem}.include", path.parent):
            candidate = base / target
            try:
                return candidate.read_bytes().decode("utf-8", errors="replace"), None
            except FileNotFoundError:
                continue
            except OSError as e:
                return None, e.strerror or str(e)
        return None, f"{target} is not beside {path.name}"

    return read


# --- building ----------------------------------------------------------------------------------------------


def build_state(named_texts: list[tuple[str, str]]) -> dict[str, Any]:
    """Parse every line of every list and build the indexes; the result is what the cache stores."""
    parsed = _parse_lists(named_texts)
    state: dict[str, Any] = {"version": ix.FORMAT_VERSION, "lists": parsed.names, "errors": parsed.errors}
    state.update(_build_indexes(parsed))
    return state


@dataclass
class _Parsed:
    """Every list's lines, parsed: what the index phase builds from."""

    names: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rules: list[tuple[R.Rule, int, int]] = field(default_factory=list)  # (rule, list index, line)
    plain: dict[str, int] = field(default_factory=dict)  # host -> plain_location (see ix.PLAIN_FLAGS)
    counts: Counter[int] = field(default_factory=Counter)  # rules kept per list index
    skipped: list[Counter[str]] = field(default_factory=list)  # per list: reason -> lines
    badfilters: set[str] = field(default_factory=set)


def _rule_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) of each line of a list that may hold a rule: not blank, not a ``!`` comment or a
    ``[Adblock Plus]`` header. Split once: ``io.StringIO`` would hold the text again as four bytes a character."""
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if line and line[0] != "!" and not (line[0] == "[" and line.endswith("]")):
            yield n, line


def _parse_lists(named_texts: list[tuple[str, str]]) -> _Parsed:
    out = _Parsed()
    for li, (name, text) in enumerate(named_texts):
        out.names.append(name)
        skipped: Counter[str] = Counter()
        out.skipped.append(skipped)
        nerr = 0
        for n, line in _rule_lines(text):
            host = R.plain_host(line)
            if host is not None:  # two thirds of EasyList + EasyPrivacy, without the general parser
                _keep_plain(out, host, li, n)
                continue
            if "#" in line and R.COSMETIC.search(line):  # cheap pre-filter: a third of EasyList
                skipped["cosmetic"] += 1
                continue
            rules = _parse_checked(line)
            if isinstance(rules, R.Skip):
                if rules.reason != "comment":
                    skipped[rules.reason] += 1
                continue
            if isinstance(rules, R.Malformed):
                skipped["malformed"] += 1
                nerr += 1
                if nerr <= MAX_ERRORS_PER_LIST:
                    out.errors.append(f"{name}:{n}: {rules.reason}")
                continue
            for r in rules:
                _keep(out, r, li, n)
        if nerr > MAX_ERRORS_PER_LIST:
            out.errors.append(f"{name}: ... and {nerr - MAX_ERRORS_PER_LIST} more malformed lines")
    return out


def _parse_checked(line: str) -> list[R.Rule] | R.Skip | R.Malformed:
    """parse_line, with every /regex/ rule's pattern checked by the bounded matcher."""
    out = R.parse_line(line)
    if isinstance(out, list):
        for r in out:
            if r.kind == R.REGEX:
                err = bounded_regex.check(r.pattern)
                if err:
                    return R.Malformed(err)
    return out


def _keep(out: _Parsed, r: R.Rule, li: int, n: int) -> None:
    if r.flags & R.BADFILTER:
        out.badfilters.add(r.key)
        out.skipped[li]["badfilter"] += 1
    elif ix.is_plain_host(r):
        _keep_plain(out, r.host, li, n)  # type: ignore[arg-type]
    else:
        out.rules.append((r, li, n))


def _keep_plain(out: _Parsed, host: str, li: int, n: int) -> None:
    # Kept as an int from here on (see ix.PLAIN_FLAGS): a big hosts file never becomes a million Rule objects at
    # once. The first list to name a host is the one reported.
    out.plain.setdefault(host, ix.plain_location(li, n))
    out.counts[li] += 1


def _build_indexes(p: _Parsed) -> dict[str, Any]:
    """The indexes of every class (see CLASSES) and the per-list stats, from the parsed lists."""
    classes: dict[str, list[tuple[ix.RuleT, str | None, list[str]]]] = {k: [] for k in CLASSES}
    freq: Counter[str] = Counter()
    for host in [h for h in p.plain if f"||{h}^" in p.badfilters] if p.badfilters else ():
        li = p.plain.pop(host) >> 32
        p.counts[li] -= 1
        p.skipped[li]["disabled by badfilter"] += 1
    for r, li, n in p.rules:
        if p.badfilters and r.key in p.badfilters:
            p.skipped[li]["disabled by badfilter"] += 1
            continue
        p.counts[li] += 1
        t = ix.rule_tuple(r, li, n)
        toks = [] if r.host else index_keys.tokens_of(r)
        freq.update(set(toks))
        cls = _class_of(r)
        classes[cls].append((t, r.host, toks))
        if cls == "important":
            classes["block"].append((t, r.host, toks))  # see CLASSES
        if r.flags & R.EXCEPTION and r.explicit_document and not r.flags & (R.REDIRECT_ONLY | R.MODIFIERS):
            classes["page_exc"].append((t, r.host, toks))
    # Plain host rules are blocks: the block index takes their map and extends it. (Until format 23 an "any" index
    # held blocks and important blocks together beside the block index, and with it a second copy of this map;
    # README, Performance.)
    state: dict[str, Any] = {}
    for k, items in classes.items():
        idx = ix.RuleIndex()
        idx.build(items, freq, p.plain if k == "block" else {})
        state[k] = idx.state()
    state["stats"] = {name: (p.counts[li], dict(p.skipped[li])) for li, name in enumerate(p.names)}
    return state


def count_rules(named_texts: list[tuple[str, str]]) -> int:
    """How many rules the lists hold, without building an engine (memory stays that of the text)."""
    n = 0
    for _, text in named_texts:
        for _, line in _rule_lines(text):
            if R.plain_host(line) is not None:  # one plain rule (as in _parse_lists)
                n += 1
                continue
            out = R.parse_line(line)
            if isinstance(out, list):
                n += sum(1 for r in out if not r.flags & R.BADFILTER)
    return n


def _class_of(r: R.Rule) -> str:
    exc = r.flags & R.EXCEPTION
    if r.flags & R.REMOVEPARAM:
        return "removeparam_exc" if exc else "removeparam"
    if r.flags & R.URLSKIP:
        return "urlskip_exc" if exc else "urlskip"
    if r.flags & R.REDIRECT_ONLY:
        return "redirect_exc"
    if r.flags & R.REDIRECT_RULE:
        return "redirect_rule"
    if exc:
        return "important_exc" if r.flags & R.IMPORTANT else "exc"
    return "important" if r.flags & R.IMPORTANT else "block"
