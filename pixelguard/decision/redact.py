"""Allowed, but not identified: what a tracker request the user let through still loses (issue 26).

When an allow rule lets a tracker's request through because a site broke without it, the event itself goes (the
site's analytics still count a page view, the shop still sees a purchase), but not what ties it to the person:
client and user IDs in the URL, hashed email and phone, and the tracker's cookies on the request. The names are
the vendors' own, from their documentation of what each parameter and cookie holds (GA: Measurement Protocol
parameter reference and "Google Analytics cookie usage"; Meta: Pixel and advanced matching parameters, the _fbp/_fbc
cookies; Segment/RudderStack: the ajs_* cookies and anonymousId/userId; Snowplow: duid/nuid/sid and _sp_*;
Matomo: _id/uid/cid and _pk_*; Microsoft UET, TikTok, Pinterest, LinkedIn: their first-party cookies).

Pure: a URL, a Cookie header and a body in, what to remove out; the proxy removes it (and drops the response's
Set-Cookie), ``pixelguard check`` shows it. A body is read as the trackers send one: form-encoded (GA4 sends one
event a line), or JSON (Segment, the Measurement Protocol), its ID keys dropped at any depth.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from urllib.parse import unquote_plus

# Query parameters that identify a person or a browser.
ID_PARAMS = frozenset({
    "cid", "uid", "_gid", "user_id", "userid",  # Google Analytics (UA, GA4): client ID, user ID
    "fbp", "fbc", "external_id",  # Meta Pixel: browser and click IDs, the advertiser's user ID
    "ud[em]", "ud[ph]", "ud[fn]", "ud[ln]", "ud[external_id]", "em", "ph",  # Meta advanced matching (hashed)
    "anonymousid", "ajs_aid", "ajs_uid",  # Segment / RudderStack
    "duid", "nuid", "tnuid", "sid",  # Snowplow: domain user, network user, session
    "_id", "_cvar",  # Matomo: visitor ID, custom visitor variables
    "mid", "aid",  # Adobe Analytics: Experience Cloud ID, analytics visitor ID
    "distinct_id", "$device_id", "$user_id",  # Mixpanel
    "li_fat_id",  # LinkedIn: first-party click ID
    "ttclid", "_ttp",  # TikTok
    "epik",  # Pinterest
})  # fmt: skip
# Keys of a JSON body that identify: the parameters above, and the JSON spellings of the same IDs.
ID_JSON_KEYS = ID_PARAMS | {"client_id", "user_id", "userid", "anonymous_id", "device_id", "external_id"}
MAX_JSON_NODES = 10_000  # values walked in one body (a tracker's event has tens)
# Cookie names (exact) and prefixes of tracker cookies.
ID_COOKIES = frozenset({"_ga", "_gid", "_gat", "_gcl_au", "_gcl_aw", "_fbp", "_fbc", "ajs_anonymous_id",
                        "ajs_user_id", "_uetsid", "_uetvid", "_ttp", "_pin_unauth", "li_fat_id", "li_sugr",
                        "_clck", "_clsk", "mp_distinct_id"})  # fmt: skip
ID_COOKIE_PREFIXES = ("_ga_", "_sp_id.", "_sp_ses.", "_pk_id.", "_pk_ses.", "mp_")


@dataclass(frozen=True)
class Redaction:
    url: str  # the URL without the identifying parameters (the same object when none was there)
    params: tuple[str, ...]  # names removed from the URL, in order
    cookies: tuple[str, ...]  # cookie names to remove from the request

    def __bool__(self) -> bool:
        return bool(self.params or self.cookies)

    def summary(self) -> str:
        parts = [*self.params, *(f"cookie {c}" for c in self.cookies)]
        return "removed " + ", ".join(dict.fromkeys(parts))


def _is_id(name: str) -> bool:
    return unquote_plus(name).strip().lower() in ID_PARAMS


def _without_ids(pairs: str, removed: list[str]) -> list[str]:
    """The ``&``-separated pairs of a query or a form line that name no identifier; the names of those that do
    are added to ``removed``."""
    kept = []
    for pair in pairs.split("&"):
        name = pair.split("=", 1)[0]
        if name and _is_id(name):
            removed.append(unquote_plus(name))
        else:
            kept.append(pair)
    return kept


def tracker_cookie(name: str) -> bool:
    n = name.strip()
    return n in ID_COOKIES or n.startswith(ID_COOKIE_PREFIXES)


def redact(url: str, cookie_header: str = "") -> Redaction:
    """What an allowed tracker request must lose: its identifying parameters (the rest of the query kept as it
    was, in order) and the names of its tracker cookies."""
    removed: list[str] = []
    out = url
    hash_at = url.find("#")
    end = len(url) if hash_at < 0 else hash_at
    q = url.find("?", 0, end)  # a "?" in the fragment starts no query
    if q >= 0:
        kept = _without_ids(url[q + 1 : end], removed)
        if removed:
            query = "&".join(p for p in kept if p)
            out = url[:q] + ("?" + query if query else "") + url[end:]
    cookies = tuple(
        dict.fromkeys(
            c.split("=", 1)[0].strip() for c in cookie_header.split(";") if tracker_cookie(c.split("=", 1)[0])
        )
    )
    return Redaction(out, tuple(dict.fromkeys(removed)), cookies)


def redact_body(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """A body without its identifiers, and the names removed; the body itself when there are none (or it is
    neither form nor JSON, or cannot be read)."""
    text = data.decode("utf-8", "surrogateescape")
    head = text.lstrip()[:1]
    if head in ("{", "["):
        return _redact_json(data)
    if "=" not in text:
        return data, ()
    removed: list[str] = []
    lines = ["&".join(_without_ids(line, removed)) for line in text.split("\n")]
    if not removed:
        return data, ()
    return "\n".join(lines).encode("utf-8", "surrogateescape"), tuple(dict.fromkeys(removed))


def _redact_json(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    from pixelguard.payloads.fields import body_json

    doc = body_json(data)  # None when it is not JSON or nests too deep
    if doc is None:
        return data, ()
    removed: list[str] = []
    queue, walked = deque([doc]), 0  # breadth first: names come in the order the document has them
    while queue and walked < MAX_JSON_NODES:
        node = queue.popleft()
        walked += 1
        if isinstance(node, dict):
            for key in [k for k in node if isinstance(k, str) and k.lower() in ID_JSON_KEYS]:
                removed.append(key)
                del node[key]
            queue.extend(node.values())
        elif isinstance(node, list):
            queue.extend(node)
    if not removed:
        return data, ()
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(), tuple(dict.fromkeys(removed))


def without_cookies(cookie_header: str, names: tuple[str, ...]) -> str:
    """A Cookie header without the named cookies (the others as they were, in order)."""
    drop = set(names)
    kept = [c.strip() for c in cookie_header.split(";") if c.strip()]
    return "; ".join(c for c in kept if c.split("=", 1)[0].strip() not in drop)
