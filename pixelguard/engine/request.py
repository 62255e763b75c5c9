"""The request model the matchers see, computed once per request: host, registrable domain, party, type, tokens.

The registrable domain ("site") comes from the public suffix list bundled with publicsuffixlist (its ICANN
section, as tldextract reads it by default); it never fetches a fresh list (a proxy must not make network
requests of its own at start-up) and is memoised per host because the lookup is the slowest step of building a
request. (tldextract, used before, answered alike but brought requests and a suffix trie of several MB into
the proxy's memory; README, Performance.)
"""

from __future__ import annotations

import functools
import re

from publicsuffixlist import PublicSuffixList

from pixelguard.engine import resource_types
from pixelguard.engine.rules import METHOD_BITS, TYPE_ALIASES, TYPE_BITS
from pixelguard.limits import (
    CANONICAL_URL_MAX,
    DOMAIN_CACHE,
    HOST_MEMO_SIZE,
    MAX_HOST,
    MEMO_KEY_MAX,
    NEEDLE_TOKENS_CACHE,
    PAGE_MEMO_SIZE,
)

# The snapshot shipped inside the package, offline. accept_unknown=False: an unlisted TLD is told apart (below).
_PSL = PublicSuffixList(only_icann=True, accept_unknown=False)
_TOKEN = re.compile(r"[a-z0-9%]+")
# Every byte that is not a token character becomes a space (non-ASCII UTF-8 bytes too, as in _TOKEN).
_TOKEN_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789%")
_TOKEN_BYTES = bytes(c if c in _TOKEN_CHARS else 0x20 for c in range(256))
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
OTHER = TYPE_BITS["other"]


@functools.lru_cache(maxsize=DOMAIN_CACHE)
def domain_of(host: str) -> str:
    """Registrable domain of a lower-case host ("" for none); IPs and single labels are their own domain."""
    if not host:
        return ""
    if _IPV4.match(host) or ":" in host:
        return host
    found = _PSL.privatesuffix(host)
    if found:
        return found
    if _PSL.is_public(host):  # the host is itself a public suffix
        return ""
    # Unlisted TLD: the PSL's default rule "*" makes the last label the suffix.
    return ".".join(host.rsplit(".", 2)[-2:])


# scheme://[userinfo@]host[:port]; a bracketed IPv6 host keeps its colons.
_AUTHORITY = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^/?#:]*)")

# What follows the host: a port, then the path.
_PORT = re.compile(r"[^/?#]*")
# RFC 3986's unreserved characters (2.3), percent-encoded: encoded or not, they are the same URL (6.2.2.2).
# Digits 3x, letters 41-5A and 61-7A, "-" 2D, "." 2E, "_" 5F, "~" 7E; any other escape is data.
_UNRESERVED_ESCAPE = re.compile(r"%(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]|2[DdEe]|5[Ff]|7[Ee])")
_UNRESERVED = {f"%{b:02x}": chr(b) for b in range(128) if chr(b).isalnum() or chr(b) in "-._~"}


def _decoded(m: re.Match[str]) -> str:
    return _UNRESERVED[m.group(0).lower()]


def _without_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 on an absolute path: ``.`` segments dropped, ``..`` drops the one before (not past the root)."""
    segments = path.split("/")
    out: list[str] = []
    last = len(segments) - 1
    for i, seg in enumerate(segments[1:], 1):
        if seg in (".", ".."):
            if seg == ".." and out:
                out.pop()
            if i == last:
                out.append("")  # "/a/." and "/a/b/.." end in a slash
            continue
        out.append(seg)
    return "/" + "/".join(out)


def canonical_url(url: str) -> str:
    """The URL with its path as a browser hands it to a blocker, so that one spelling of a path cannot pass where
    another is blocked: percent-encoded unreserved characters decoded (``/coll%65ct`` is ``/collect``: RFC 3986
    6.2.2.2; Chromium decodes them in paths), and then dot segments removed (``/x/%2e%2e/collect``: RFC 3986
    5.2.4, as the WHATWG URL parser of every browser removes them). Servers read either spelling alike, and an
    escape survives the way to the proxy (Firefox, Thunderbird and Safari keep it), so a tracker's pixel in a
    mail, an app's request or a page could carry one past a path rule. Bare dot segments in a path without
    escapes are left to the sender: every browser, mail client and common HTTP library removes them before
    sending, and looking for them in every URL would cost every request. Anything else stays as sent: an escaped
    reserved character (``%2F``, ``%3D``) is data, not the character; the query stays as browsers send it (one
    URL in six of ../shared's pages carries escapes there, about a hundred each, mostly an encoded URL); the host
    is never rewritten. A path past CANONICAL_URL_MAX characters (no server takes a request line that long) is
    left as sent."""
    end = len(url)
    for mark in "?#":
        found = url.find(mark, 0, end)
        if found >= 0:
            end = found
    if url.find("%", 0, end) < 0:
        return url  # escapes in the query only: the usual case (an encoded URL in a parameter)
    m = _AUTHORITY.match(url)
    if m is None:
        return url
    start = _PORT.match(url, m.end(), end).end()  # type: ignore[union-attr]
    path = url[start:end]
    if not path.startswith("/") or len(path) > CANONICAL_URL_MAX:
        return url
    was = path
    path = _UNRESERVED_ESCAPE.sub(_decoded, path)
    if "/." in path:  # from "%2e" as well
        path = _without_dot_segments(path)
    return url if path == was else url[:start] + path + url[end:]


def normal_host(host: str) -> str:
    """A host name as every part of pixelguard compares it: lower case, no trailing dot."""
    return host.lower().rstrip(".")


def split_url(url: str) -> tuple[str, str]:
    """(scheme, host) of an absolute URL, lower-cased; ("", "") when it has no scheme://host."""
    m = _AUTHORITY.match(url)
    if m is None:
        return "", ""
    host = m.group(2)
    if host[:1] == "[":
        host = host[1:-1]
    return m.group(1).lower(), normal_host(host)


def site_of(url: str) -> str:
    """Registrable domain of a URL's host ("" when the URL has none)."""
    try:
        return domain_of(split_url(url)[1])
    except Exception:
        return ""


def type_bit(resource_type: str | None, url: str = "", has_page: bool = False) -> int:
    """The bit of a resource type name; aliases accepted, unknown names are "other", None guesses from url."""
    if resource_type is None:
        return TYPE_BITS[resource_types.from_extension(url, has_page)]
    name = resource_type.lower()
    return TYPE_BITS.get(TYPE_ALIASES.get(name, name), OTHER)


def guess_type(url: str, has_page: bool = False) -> str:
    """Resource type from the URL path's extension, else "other" (resource_types.py has the table)."""
    return resource_types.from_extension(url, has_page)


# Hosts and page URLs repeat: a page's subresources share its URL, and a few hosts serve most requests. Plain
# dicts emptied when full are cheaper than lru_cache here (the lookups are on every request's path). Only short
# keys are remembered, so that a hostile stream of long hosts or page URLs cannot fill memory (sizes: limits.py).
# A longer "host" is matched on its last MAX_HOST characters (limits.py says why).
HostInfo = tuple[str, tuple[str, ...], tuple[str, ...]]
_hosts: dict[str, HostInfo] = {}
_pages: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {}


def _compute_host_info(host: str) -> HostInfo:
    tail = host
    if len(tail) > MAX_HOST:
        tail = tail[-MAX_HOST:]
        tail = tail[tail.find(".") + 1 :] if "." in tail else tail
    sufs = [tail] if tail else []
    i = tail.find(".")
    while i >= 0:
        host_tail = sufs[-1][i + 1 :]
        if not host_tail:
            break
        sufs.append(host_tail)
        i = host_tail.find(".")
    domain = domain_of(tail)
    return domain, tuple(sufs), _entities(tail, domain)


def _entities(host: str, domain: str) -> tuple[str, ...]:
    """uBO's entity names for host: www.google.co.uk → ("www.google.*", "google.*")."""
    if not domain or "." not in domain or _IPV4.match(domain) or ":" in domain:
        return ()
    base = host[: len(host) - len(domain)] + domain.split(".", 1)[0]
    out = [base + ".*"]
    i = base.find(".")
    while i >= 0:
        base = base[i + 1 :]
        out.append(base + ".*")
        i = base.find(".")
    return tuple(out)


def host_info(host: str) -> HostInfo:
    """(registrable domain, the host and each of its parent suffixes: a.b.c, b.c, c, entity names)."""
    info = _hosts.get(host)
    if info is None:
        info = _compute_host_info(host)
        if len(host) <= MEMO_KEY_MAX:
            if len(_hosts) >= HOST_MEMO_SIZE:
                _hosts.clear()
            _hosts[host] = info
    return info


def _page_info(source_url: str) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """(host, registrable domain, host suffixes, entity names) of a page URL."""
    info = _pages.get(source_url)
    if info is None:
        host = split_url(source_url)[1]
        info = (host, *host_info(host))
        if len(source_url) <= MEMO_KEY_MAX * 8:
            if len(_pages) >= PAGE_MEMO_SIZE:
                _pages.clear()
            _pages[source_url] = info
    return info


# Above this length a substring test on the URL first asks its set of tokens (see LongUrl).
LONG_URL = 2048


@functools.lru_cache(maxsize=NEEDLE_TOKENS_CACHE)
def inner_tokens(needle: str) -> tuple[bytes, ...]:
    """The tokens of needle that end inside it on both sides (``=e3&`` → e3; ``com/ick.`` → ick, not com)."""
    raw = needle.encode("utf-8", "surrogatepass")
    toks = raw.translate(_TOKEN_BYTES).split()
    if toks and raw[:1].translate(_TOKEN_BYTES) != b" ":
        toks = toks[1:]  # the first run may continue to its left in the URL
    if toks and raw[-1:].translate(_TOKEN_BYTES) != b" ":
        toks = toks[:-1]
    return tuple(toks)


class LongUrl(str):
    """A long lower-cased URL whose ``needle in url`` asks its token set before scanning it.

    Each rule a request's tokens and hosts lead to has its needle tested with ``in``: on a 100 KB URL that is a
    100 KB scan per candidate, tens of them on a URL repeating an indexed word. A token of the needle bounded on
    both sides inside it must be a whole token of any URL containing the needle, so when one is missing from the
    URL's token set the answer is no at the cost of a dict lookup. Short URLs stay plain ``str``: there a scan is
    cheaper than the Python call this makes.
    """

    token_set: dict[bytes, None] | None = None

    def __contains__(self, needle: object) -> bool:
        if isinstance(needle, str):
            inner = inner_tokens(needle)
            if inner:
                have = self.token_set
                if have is None:
                    have = self.token_set = dict.fromkeys(_split_tokens(self))
                for t in inner:
                    if t not in have:
                        return False
        return str.__contains__(self, needle)  # type: ignore[operator]


def _split_tokens(url: str) -> list[bytes]:
    """A URL's tokens, in order, repeats kept (Request.tokens inlines this: it runs for every request)."""
    return url.encode("utf-8", "surrogatepass").translate(_TOKEN_BYTES).split()


_METHOD_BITS = {name.upper(): bit for name, bit in METHOD_BITS.items()}
_BITS = {**TYPE_BITS, **{alias: TYPE_BITS[name] for alias, name in TYPE_ALIASES.items()}}
GET = METHOD_BITS["get"]


class Request:
    """Everything a rule may look at, computed once."""

    __slots__ = (
        "domain",
        "entities",
        "host",
        "host_end",
        "host_start",
        "method",
        "method_name",
        "source_domain",
        "source_entities",
        "source_host",
        "source_suffixes",
        "source_url",
        "suffixes",
        "third_party",
        "token_list",
        "type",
        "url",
        "url_lower",
    )

    def __init__(
        self,
        url: str,
        source_url: str | None = None,
        resource_type: str | None = None,
        method: str | None = None,
    ):
        if "%" in url:  # escapes to look at, perhaps: most URLs have none
            url = canonical_url(url)
        self.url = url
        self.source_url = source_url
        self.method_name = method
        self.token_list: list[bytes] | None = None
        lower = url.lower()
        self.url_lower = lower = LongUrl(lower) if len(lower) > LONG_URL else lower
        m = _AUTHORITY.match(lower)
        if m is None:
            host, self.host_start, self.host_end = "", 0, 0
        else:
            host = m.group(2)
            # The host's span keeps an IPv6 literal's brackets: a rule's rest (`||[::1]/pixel` → "/pixel") starts
            # after "]", and a ``||[::1]*`` pattern's first part with "[".
            self.host_start, self.host_end = m.start(2), m.end(2)
            if host[:1] == "[":
                host = host[1:-1]
            host = host.rstrip(".")
        self.host = host
        self.domain, self.suffixes, self.entities = host_info(host)
        if source_url:
            self.source_host, self.source_domain, self.source_suffixes, self.source_entities = _page_info(
                source_url
            )
        else:
            self.source_host, self.source_domain, self.source_suffixes, self.source_entities = "", "", (), ()
        # Unknown page: neither first- nor third-party rules are excluded (as Brave's engine does).
        self.third_party = None if not self.source_domain else self.source_domain != self.domain
        bit = _BITS.get(resource_type) if resource_type is not None else None
        self.type = bit if bit is not None else type_bit(resource_type, url, bool(source_url))
        self.method = GET if method is None else _METHOD_BITS.get(method.upper(), 0)

    def tokens(self) -> list[bytes]:
        """The URL's tokens (runs of a-z 0-9 %), as bytes: a C translate and split is 4x faster than a regex.

        A URL with many tokens has each looked up once, so that one repeating a word thousands of times costs
        what one copy costs (a short URL's few repeats are cheaper looked up than removed). Computed once: the
        proxy asks several questions of one request."""
        toks = self.token_list
        if toks is not None:
            return toks
        lower = self.url_lower
        toks = (
            lower.encode("utf-8", "surrogatepass").translate(_TOKEN_BYTES).split()
        )  # _split_tokens, inlined
        if len(toks) > 32:
            unique = dict.fromkeys(toks)
            if isinstance(lower, LongUrl):
                lower.token_set = unique  # what its substring tests ask first
            toks = list(unique)
        self.token_list = toks
        return toks
