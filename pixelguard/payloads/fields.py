"""Reading what a tracking request carries: the query string, and a body that is form-encoded, JSON, a batch of
query strings (GA4's newline-separated events) or text (sendBeacon sends any of them as text/plain)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 64 * 1024
MAX_PARAMS = 500
MAX_VALUE = 300  # characters kept of one value

_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.I)
_B64 = re.compile(r"[A-Za-z0-9+/_=-]{20,}\Z")


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)[:MAX_PARAMS])


def body_text(body: bytes | None) -> str:
    if not body:
        return ""
    return body[:MAX_BODY].decode("utf-8", "replace")


# Nesting a payload may have: vendors' events nest a handful of levels; deeper is hostile (json's C parser would
# recurse once a level and give up only at the interpreter's recursion limit).
MAX_DEPTH = 64


def body_json(body: bytes | None) -> Any:
    """The body as JSON, or None: not JSON, or nested deeper than MAX_DEPTH (counted before parsing, in C)."""
    text = body_text(body).strip()
    if not text or text[0] not in "[{":
        return None
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _depth(text: str) -> int:
    """The deepest nesting of brackets outside strings (linear: strings removed by one regex pass)."""
    depth = deepest = 0
    for c in re.sub(r"[^\[\]{}]", "", _STRING.sub("", text)):
        depth += 1 if c in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def body_form(body: bytes | None) -> dict[str, str]:
    text = body_text(body)
    if not text or text.lstrip()[:1] in "[{" or "=" not in text:
        return {}
    return dict(parse_qsl(text.split("\n", 1)[0], keep_blank_values=True)[:MAX_PARAMS])


def body_lines(body: bytes | None) -> list[dict[str, str]]:
    """A batch of query strings, one per line (GA4's /g/collect bodies)."""
    return [
        dict(parse_qsl(line, keep_blank_values=True)[:MAX_PARAMS])
        for line in body_text(body).split("\n")[:MAX_PARAMS]
        if "=" in line
    ]


def kind_of(value: str) -> str | None:
    """'sha256'/'sha1'/'md5' for a hex hash, 'uuid', 'id' for a long opaque token; None for ordinary values."""
    v = value.strip()
    if _HEX.match(v):
        return {64: "sha256", 40: "sha1", 32: "md5"}.get(len(v)) or ("id" if len(v) >= 16 else None)
    if _UUID.match(v):
        return "uuid"
    if _B64.match(v) and any(c.isdigit() for c in v) and any(c.isalpha() for c in v):
        return "id"
    return None


def short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"
