"""URLs written in text (a mail's HTML, a URL typed for ``check``), read as the browser or mail client that
fetches them reads them.

Through the proxy a request arrives already read by its client. A URL in text does not: a mail's
``<img src="https://tracker.example\\open">`` loads ``https://tracker.example/open`` in Thunderbird, Apple Mail
and every browser, whose WHATWG URL parsers turn ``\\`` into ``/``, drop tabs and line breaks, lower-case the
host and undo its escapes (``tr%61cker``), map ``。`` to ``.``, drop a default port (``:443``) and read
``https:host/p`` as ``https://host/p``. The lists are written for URLs as clients send them, so a written URL
is matched in that form; otherwise any of those spellings would carry a pixel past ``||host^`` in
``mail clean`` and ``scan``. The parser is ada (the WHATWG URL standard's, as Node.js uses it): linear, in C++.
"""

from __future__ import annotations

import ada_url

# Characters the URL standard strips from both ends (C0 controls and space) and removes anywhere (tab, LF, CR).
_ENDS = "".join(map(chr, range(0x21)))
_INSIDE = {0x09: None, 0x0A: None, 0x0D: None}
_SLASHES = ("//", "\\\\", "/\\", "\\/")


def fetched_url(text: str, base: str | None = None) -> str | None:
    """The absolute http(s) URL a client fetches for ``text``, in the form it sends; None for anything it
    would not fetch over http(s): ``cid:``, ``data:``, a relative reference with no ``base`` (an http(s) URL
    read by this function), empty text, or text the URL standard rejects (``https://a b/``)."""
    clean = text.strip(_ENDS)
    if "\t" in clean or "\n" in clean or "\r" in clean:
        clean = clean.translate(_INSIDE)
    if not clean:
        return None  # an empty src fetches nothing (HTML), whatever the base
    if base is not None:
        try:
            joined: str = ada_url.join_url(base, clean)
        except ValueError:
            return None
        return joined if joined.startswith(("https://", "http://")) else None
    if clean[:2] in _SLASHES:
        # Scheme-relative (``//host/p``): mail has no page to take a scheme from, so https is assumed, as the
        # mail reading always has.
        clean = "https:" + clean
    try:
        href: str = ada_url.normalize_url(clean)
    except ValueError:
        return None
    return href if href.startswith(("https://", "http://")) else None
