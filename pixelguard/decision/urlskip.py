"""Tracked links unwrapped: the destination a redirector's URL carries, decoded by ``$urlskip=`` steps, so that the
click goes straight there and the redirector never sees it.

The steps are uBO's (src/js/urlskip.js, "Static filter syntax": urlskip=), space-separated, applied in order to
the current string, which starts as the request's URL:

  ``?name``         the value of query parameter ``name`` (decoded as URLSearchParams decodes it)
  ``&i``            the name of the i-th query parameter (1-based)
  ``#``             the fragment
  ``/re/``          the first capture group of a regular expression (RE2 here: linear in the URL)
  ``+https``        ``https://`` put in front (an ``http(s)://`` there already is replaced)
  ``-base64``       base64-decoded; ``-safebase64`` the URL-safe alphabet; ``-uricomponent`` percent-decoded
  ``-blocked``      the rule may also unwrap a request the lists block (by default a blocked one is not)

and one of pixelguard's own, for senders that wrap the destination in JSON (Mandrill's ``p=``, base64 of JSON
holding JSON): ``-json=KEY``, the string under KEY at any depth, JSON held in strings read too, its escaped
slashes undone. uBO does not know it and, as for any step it does not know, leaves such a link alone.

A step that does not apply, or an unknown one, gives no destination; so does a result that is not an http(s) URL
with a host. pixelguard adds one check of its own: a destination on the redirector's own host is no way out of
it (a loop, or the redirector's own page) and is refused.

uBO honours ``$urlskip`` only from trusted sources (its own lists and, if the user says so, "My filters"): a rule
that rewrites where a click goes is too strong to take from any list. pixelguard does the same: its own lists,
the user's list and uBO's lists (protection.trusted_list).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import re2

from pixelguard.engine.engine import ParamRule

MAX_STEPS = 16  # uBO's lists use at most 4; a longer chain is not a redirector's
MAX_JSON_PARSES = 4  # JSON in JSON: Mandrill nests two levels
MAX_JSON_ITEMS = 1000  # values looked at in one -json= step
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME_ONLY = re.compile(r"^[\w-]:\/\/")  # uBO refuses to put https:// before these (its +https check)
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))  # printable ASCII stays, the rest is percent-encoded


@dataclass(frozen=True)
class Unwrapped:
    url: str  # where the link goes
    rule: ParamRule  # the $urlskip rule whose steps found it


def run_steps(url: str, steps: str, blocked: bool = False) -> str | None:
    """The destination ``steps`` decode from ``url``, or None (uBO's urlSkip)."""
    directives = steps.split()
    if not directives or len(directives) > MAX_STEPS:
        return None
    may_skip_blocked = False
    out = url
    for step in directives:
        if step == "-blocked":
            may_skip_blocked = True
            continue
        got = _step(out, step)
        if got is None:
            return None
        out = got
    if blocked and not may_skip_blocked:
        return None
    return _final(out)


def _step(cur: str, step: str) -> str | None:
    try:
        if step == "#":
            _, hash_, frag = cur.partition("#")
            return frag if hash_ else ""
        if step[0] == "?":
            for name, value in _params(cur):
                if name == step[1:]:
                    return value.replace(" ", "%20")
            return None
        if step[0] == "&":
            i = int(step[1:]) - 1 if step[1:].isdigit() else -1
            names = [name for name, _ in _params(cur)]
            return _uricomponent(names[i]) if 0 <= i < len(names) else None
        if step == "+https":
            rest = re.sub(r"^https?://", "", cur)
            return None if _SCHEME_ONLY.match(rest) else "https://" + rest
        if step == "-base64":
            return _atob(cur)
        if step == "-safebase64":
            return _atob(cur.replace("-", "+").replace("_", "/"))
        if step == "-uricomponent":
            return _uricomponent(cur)
        if step.startswith("-json="):
            return _json_value(cur, step[6:])
        if len(step) > 2 and step[0] == step[-1] == "/":
            rx = _regex(step[1:-1])
            m = rx.search(cur) if rx.groups >= 1 else None
            return m.group(1) if m is not None and m.group(1) is not None else None
    except (ValueError, re2.error, IndexError, RecursionError):
        return None
    return None  # an unknown step: no destination, as in uBO


@functools.lru_cache(maxsize=256)
def _regex(src: str) -> Any:
    return re2.compile(src)


def _params(url: str) -> list[tuple[str, str]]:
    parts = urlsplit(url)
    if not parts.scheme:
        raise ValueError("not a URL")
    return parse_qsl(parts.query, keep_blank_values=True)


def _atob(s: str) -> str:
    """The browser's atob: whitespace ignored, padding optional, the bytes as Latin-1 characters."""
    s = "".join(s.split())
    if len(s) % 4 == 1:
        raise ValueError("not base64")
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True).decode("latin-1")
    except binascii.Error as e:
        raise ValueError("not base64") from e


def _json_value(text: str, key: str) -> str | None:
    """The first string under ``key`` in JSON ``text`` (breadth first), reading JSON held in strings as well."""
    queue: deque[Any] = deque([json.loads(text)])
    parsed, seen = 1, 0
    while queue and seen < MAX_JSON_ITEMS:
        x = queue.popleft()
        seen += 1
        if isinstance(x, dict):
            if isinstance(x.get(key), str):
                return x[key].replace("\\/", "/")  # JSON's escaped slash, left by JSON written into JSON
            queue.extend(x.values())
        elif isinstance(x, list):
            queue.extend(x)
        elif isinstance(x, str) and x[:1] in ("{", "[") and parsed < MAX_JSON_PARSES:
            queue.append(json.loads(x))
            parsed += 1
    return None


def _uricomponent(s: str) -> str:
    """decodeURIComponent: a stray % or bytes that are not UTF-8 are an error, not kept."""
    if _BAD_PERCENT.search(s):
        raise ValueError("malformed percent-encoding")
    return unquote(s, errors="strict")


def _final(url: str) -> str | None:
    """The destination as a Location header can carry it, when it is an http(s) URL with a host."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises for a port that is not a number, as new URL() does)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return quote(url, safe=_URL_SAFE)


def unwrap(
    url: str, host: str, rules: Iterable[ParamRule], trusted: frozenset[str], blocked: bool = False
) -> Unwrapped | None:
    """The first trusted rule whose steps find a destination off the redirector's host ``host``."""
    for rule in rules:
        if rule.list not in trusted or not rule.param:
            continue
        dest = run_steps(url, rule.param, blocked)
        if dest is None or dest == url:
            continue
        dest_host = (urlsplit(dest).hostname or "").rstrip(".")
        if dest_host == host:
            continue
        return Unwrapped(dest, rule)
    return None
