"""What a request is and where it comes from, from its headers: the engine's resource type and source page.

Browsers say what they fetch in ``Sec-Fetch-Dest``; older clients and mail programs only in ``Accept`` or the
URL's extension. The source page comes from ``Referer`` or ``Origin``; mail clients send neither, so the
request has no site and is treated as third-party.
"""

from __future__ import annotations

from collections.abc import Mapping

from pixelguard.engine import resource_types

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


def resource_type(headers: Mapping[str, str], url: str) -> str:
    """The engine resource type of a request (document, image, script, ... or other)."""
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
