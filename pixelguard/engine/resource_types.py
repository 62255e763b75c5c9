"""Resource types: their names, and the type a URL's extension suggests when nothing better says it.

One table for the engine (``pixelguard check``, scanners) and the proxy (clients that send neither
``Sec-Fetch-Dest`` nor a telling ``Accept``), so that both read a URL alike.

The one extension with two meanings is ``.html``: a page, or a frame in a page. The rule: an ``.html`` request
with a page behind it (a Referer, or ``--source``) is a ``subdocument``; without one it is a navigation, a
``document`` (a link followed from a mail or typed into the address bar).
"""

from __future__ import annotations

# The engine's resource types, in the order of their bits (rules.TYPE_BITS).
NAMES = (
    "other",
    "script",
    "image",
    "stylesheet",
    "object",
    "xmlhttprequest",
    "subdocument",
    "document",
    "media",
    "font",
    "websocket",
    "ping",
)

EXTENSIONS = {
    **dict.fromkeys(("js", "mjs"), "script"),
    **dict.fromkeys(
        ("gif", "png", "jpg", "jpeg", "jpe", "webp", "svg", "ico", "bmp", "avif", "apng"), "image"
    ),
    "css": "stylesheet",
    **dict.fromkeys(("woff", "woff2", "ttf", "otf", "eot"), "font"),
    **dict.fromkeys(("mp4", "webm", "mp3", "ogg", "m4a", "m3u8", "wav", "mov"), "media"),
    "swf": "object",
}
PAGE_EXTENSIONS = ("html", "htm")


def from_extension(url: str, has_page: bool) -> str:
    """The type a URL's path extension suggests ("other" when none does); see the .html rule above."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    slash = path.rfind("/")
    dot = path.rfind(".")
    if dot <= slash or slash < 0 or path[slash - 1 : slash] == "/":
        return "other"
    ext = path[dot + 1 :].lower()
    if ext in PAGE_EXTENSIONS:
        return "subdocument" if has_page else "document"
    return EXTENSIONS.get(ext, "other")
