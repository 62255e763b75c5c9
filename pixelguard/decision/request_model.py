"""The request model the pipeline sees, built once per request by the transport (or by ``pixelguard check``).

What a request is and where it comes from is read from its headers: browsers say what they fetch in
``Sec-Fetch-Dest``; older clients and mail programs only in ``Accept`` or the URL's extension. The page comes
from ``Referer`` or ``Origin``; mail clients send neither, so the request has no site and counts as third-party.
The destination is the one the connection really goes to (the CONNECT target or the absolute URL), never the
Host header, which the sender chooses freely; a plausible name in it is kept apart, to be judged too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pixelguard.engine import resource_types
from pixelguard.engine.request import Request, normal_host, site_of, split_url
from pixelguard.limits import MAX_HOST

_DEST = {
    "document": "document",
    "iframe": "subdocument",
    "frame": "subdocument",
    "fencedframe": "subdocument",
    "script": "script",
    "worker": "script",
    "sharedworker": "script",
    "serviceworker": "script",
    "audioworklet": "script",
    "paintworklet": "script",
    "style": "stylesheet",
    "xslt": "stylesheet",
    "image": "image",
    "font": "font",
    "audio": "media",
    "video": "media",
    "track": "media",
    "object": "object",
    "embed": "object",
    "empty": "xmlhttprequest",  # fetch(), XHR and sendBeacon
    "report": "ping",
    "websocket": "websocket",
}
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z")


def resource_type(headers: Mapping[str, str], url: str) -> str:
    """The engine resource type of a request (document, image, script, ... or other). ``headers``: lower-case
    names."""
    if headers.get("upgrade", "").lower() == "websocket":
        return "websocket"
    dest = headers.get("sec-fetch-dest", "").strip().lower()
    if dest in _DEST:
        return _DEST[dest]
    accept = headers.get("accept", "").lower()
    first = accept.split(",", 1)[0].strip()
    if first.startswith("text/html") or first.startswith("application/xhtml"):
        return "document"
    if first.startswith("image/"):
        return "image"
    if first.startswith("text/css"):
        return "stylesheet"
    # Nothing in the headers: the URL's extension, read as the engine reads it (one table, one .html rule).
    return resource_types.from_extension(url, has_page=source_url(headers) is not None)


def source_url(headers: Mapping[str, str]) -> str | None:
    """The page that made the request: Referer, else Origin; None when neither (mail clients)."""
    referer = headers.get("referer", "").strip()
    if referer.startswith(("http://", "https://")):
        return referer
    origin = headers.get("origin", "").strip()
    if origin.startswith(("http://", "https://")):
        return origin + "/"
    return None


def is_navigation(headers: Mapping[str, str], method: str) -> bool:
    """A page load: ``Sec-Fetch-Dest: document``, or, from clients that do not send it, a GET asking for HTML
    with no Referer (a link opened from a mail or another app). Such a request may be answered with a 307."""
    if method not in ("GET", "HEAD"):
        return False
    dest = headers.get("sec-fetch-dest", "").strip().lower()
    if dest:
        return dest == "document"
    accept = headers.get("accept", "").lower()
    return accept.startswith(("text/html", "application/xhtml")) and not headers.get("referer")


def named_host(headers: Mapping[str, str], authority: str = "") -> str | None:
    """The host the Host header (or HTTP/2 :authority) names, when it is a plausible name; else None."""
    raw = headers.get("host") or authority or ""
    name = raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
    name = normal_host(name.strip())
    if not name or len(name) > MAX_HOST or not _HOST_NAME.match(name):
        return None
    return name


def header_map(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header (name, value) pairs → {lower-case name: value}; repeated headers joined as HTTP joins them
    (cookies with "; ")."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in out:
            out[key] = out[key] + ("; " if key == "cookie" else ", ") + value
        else:
            out[key] = value
    return out


@dataclass(frozen=True, slots=True, eq=False)
class RequestModel:
    """One request as every stage sees it. ``engine`` is the filter engine's own request model, built here
    once and asked every question (block, exception, parameters) of this request."""

    url: str  # where the request really goes
    host: str  # normal_host of the destination
    method: str
    type: str  # engine resource type
    source: str | None  # the page (Referer / Origin), None when unknown
    site: str  # registrable domain of the page ("" when unknown)
    navigation: bool
    host_header: str | None  # a different plausible name the Host header gives (domain fronting)
    headers: Mapping[str, str]  # lower-case names
    client: str  # the client's address ("" when unknown)
    engine: Request

    @classmethod
    def build(
        cls,
        url: str,
        host: str,
        method: str,
        headers: Mapping[str, str],
        *,
        client: str = "",
        authority: str = "",
        resource: str | None = None,
        source: str | None = None,
    ) -> RequestModel:
        """``headers`` with lower-case names (header_map). ``resource``/``source`` override what the headers
        say (``check --type/--source``)."""
        host = normal_host(host)
        method = method.upper()
        page = source if source is not None else source_url(headers)
        rtype = resource or resource_type(headers, url)
        named = named_host(headers, authority)
        return cls(
            url=url,
            host=host,
            method=method,
            type=rtype,
            source=page,
            site=site_of(page) if page else "",
            navigation=is_navigation(headers, method),
            host_header=named if named and named != host else None,
            headers=headers,
            client=client,
            # A page load is its own context (uBO: a root frame's origin is its own URL): its $domain= and party
            # are those of the page itself, not of the page that linked to it (the Referer).
            engine=Request(url, url if rtype == "document" else page, rtype, method),
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        resource: str | None = None,
        source: str | None = None,
        client: str = "",
    ) -> RequestModel:
        """A request to an absolute URL, as ``pixelguard check`` and the tests make one."""
        return cls.build(
            url, split_url(url)[1], method, headers or {}, client=client, resource=resource, source=source
        )

    @property
    def first_party(self) -> bool:
        """Does the request go to the site the user is on (its registrable domain)?"""
        return bool(self.site) and self.engine.domain == self.site
