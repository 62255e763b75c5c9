"""The request model the matchers see, computed once per request: host, registrable domain, party, type, tokens.

The registrable domain ("site") comes from the public suffix list bundled with tldextract; it never fetches a
fresh list (a proxy must not make network requests of its own at start-up) and is memoised per host because
the lookup is the slowest step of building a request.
"""

from __future__ import annotations

import functools
import re

import tldextract

from pixelguard.engine.rules import TYPE_ALIASES, TYPE_BITS

# suffix_list_urls=() and cache_dir=None: use the snapshot shipped inside tldextract, offline, no disk cache.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
_TOKEN = re.compile(r"[a-z0-9%]+")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
OTHER = TYPE_BITS["other"]

# Extension → resource type, for callers that do not know the type (the CLI, scanners).
_EXT_TYPES = {
    **dict.fromkeys(("js", "mjs"), "script"),
    **dict.fromkeys(("gif", "png", "jpg", "jpeg", "webp", "svg", "ico", "bmp", "avif", "apng"), "image"),
    "css": "stylesheet",
    **dict.fromkeys(("woff", "woff2", "ttf", "otf", "eot"), "font"),
    **dict.fromkeys(("mp4", "webm", "mp3", "ogg", "m4a", "m3u8", "wav", "mov"), "media"),
    **dict.fromkeys(("html", "htm"), "subdocument"),
    "swf": "object",
}


@functools.lru_cache(maxsize=65536)
def domain_of(host: str) -> str:
    """Registrable domain of a lower-case host ("" for none); IPs and single labels are their own domain."""
    if not host:
        return ""
    if _IPV4.match(host) or ":" in host:
        return host
    ext = _EXTRACT(host)
    if ext.domain and ext.suffix:
        return f"{ext.domain}.{ext.suffix}"
    if ext.suffix:  # the host is itself a public suffix
        return ""
    # Unlisted TLD: the PSL's default rule "*" makes the last label the suffix.
    return ".".join(host.rsplit(".", 2)[-2:])


# scheme://[userinfo@]host[:port]; a bracketed IPv6 host keeps its colons.
_AUTHORITY = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^/?#:]*)")


def split_url(url: str) -> tuple[str, str]:
    """(scheme, host) of an absolute URL, lower-cased; ("", "") when it has no scheme://host."""
    m = _AUTHORITY.match(url)
    if m is None:
        return "", ""
    host = m.group(2)
    if host[:1] == "[":
        host = host[1:-1]
    return m.group(1).lower(), host.lower().rstrip(".")


def site_of(url: str) -> str:
    """Registrable domain of a URL's host ("" when the URL has none)."""
    try:
        return domain_of(split_url(url)[1])
    except Exception:
        return ""


def type_bit(resource_type: str | None, url: str = "") -> int:
    """The bit of a resource type name; aliases accepted, unknown names are "other", None guesses from url."""
    if resource_type is None:
        return TYPE_BITS[guess_type(url)]
    name = resource_type.lower()
    return TYPE_BITS.get(TYPE_ALIASES.get(name, name), OTHER)


def guess_type(url: str) -> str:
    """Resource type from the URL path's extension, else "other"."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    slash = path.rfind("/")
    dot = path.rfind(".")
    if dot <= slash or slash < 0 or path[slash - 1 : slash] == "/":
        return "other"
    return _EXT_TYPES.get(path[dot + 1 :].lower(), "other")


# Hosts and page URLs repeat: a page's subresources share its URL, and a few hosts serve most requests. Plain
# dicts emptied when full are cheaper than lru_cache here (the lookups are on every request's path).
HOST_MEMO_SIZE = 65536
PAGE_MEMO_SIZE = 4096  # page URLs can be long; a few thousand pages open at once is plenty
_hosts: dict[str, tuple[str, tuple[str, ...]]] = {}
_pages: dict[str, tuple[str, str, tuple[str, ...]]] = {}


def _host_info(host: str) -> tuple[str, tuple[str, ...]]:
    """(registrable domain, the host and each of its parent suffixes: a.b.c, b.c, c)."""
    info = _hosts.get(host)
    if info is None:
        sufs = [host] if host else []
        i = host.find(".")
        while i >= 0:
            host_tail = sufs[-1][i + 1 :]
            if not host_tail:
                break
            sufs.append(host_tail)
            i = host_tail.find(".")
        info = (domain_of(host), tuple(sufs))
        if len(_hosts) >= HOST_MEMO_SIZE:
            _hosts.clear()
        _hosts[host] = info
    return info


def _page_info(source_url: str) -> tuple[str, str, tuple[str, ...]]:
    """(host, registrable domain, host suffixes) of a page URL."""
    info = _pages.get(source_url)
    if info is None:
        host = split_url(source_url)[1]
        info = (host, *_host_info(host))
        if len(_pages) >= PAGE_MEMO_SIZE:
            _pages.clear()
        _pages[source_url] = info
    return info


class Request:
    """Everything a rule may look at, computed once."""

    __slots__ = (
        "domain",
        "host",
        "host_end",
        "source_domain",
        "source_host",
        "source_suffixes",
        "suffixes",
        "third_party",
        "type",
        "url",
        "url_lower",
    )

    def __init__(self, url: str, source_url: str | None = None, resource_type: str | None = None):
        self.url = url
        self.url_lower = lower = url.lower()
        m = _AUTHORITY.match(lower)
        if m is None:
            host, self.host_end = "", 0
        else:
            host = m.group(2)
            host = (host[1:-1] if host[:1] == "[" else host).rstrip(".")
            self.host_end = m.end(2)
        self.host = host
        self.domain, self.suffixes = _host_info(host)
        if source_url:
            self.source_host, self.source_domain, self.source_suffixes = _page_info(source_url)
        else:
            self.source_host, self.source_domain, self.source_suffixes = "", "", ()
        # Unknown page: neither first- nor third-party rules are excluded (as Brave's engine does).
        self.third_party = None if not self.source_domain else self.source_domain != self.domain
        self.type = type_bit(resource_type, url)

    def tokens(self) -> list[str]:
        return _TOKEN.findall(self.url_lower)
