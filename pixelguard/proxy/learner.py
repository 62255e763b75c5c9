"""Pixel sightings → learned rules, as narrow as the evidence.

A host that answers with tracking pixels on ``learn_after`` distinct sites (or, when requests carry no site,
as mail clients' do, at ``learn_after`` distinct URLs) is a tracker the lists missed. The learner says so once
per host, with the narrowest rule the sightings support: the path the pixels shared (``/t/`` when they all lay
under it, ``/open.gif^`` when it was one file), the whole host only when they shared nothing. A host that was
also seen serving a real image (bigger than a pixel) is never learned: its pixels are replaced one by one, and
its photos keep loading. Memory is bounded: only the most recently seen hosts are remembered.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import NamedTuple

from pixelguard.engine import wild

MAX_HOSTS = 10_000
MAX_KEYS = 64  # distinct sites/URLs kept per host; more than learn_after is never needed
MAX_PREFIX = 200  # a longer shared path is cut back to a folder: the rule is a line a person reads
# Characters that mean something in a filter rule's pattern: a path holding one is cut before it.
_SPECIAL = "*^|$"


class Learned(NamedTuple):
    evidence: str  # why, for the comment above the rule
    prefix: str  # the path the rule is limited to ("" for the whole host); see lists.learned_rule


def narrowest(paths: list[str]) -> str:
    """The path prefix shared by every pixel URL: one file (``/open.gif^``), a folder (``/t/``) or "" (none)."""
    if not paths:
        return ""
    cut = min((p.find(c) for p in paths for c in _SPECIAL if c in p), default=-1)
    same = os.path.commonprefix(paths)  # noqa: RUF071 (characters on purpose: cut back to a "/" below)
    if cut >= 0:
        same = same[:cut]
    elif len(set(paths)) == 1 and len(same) <= MAX_PREFIX:
        return same + "^"  # one file: any query, nothing past its name
    folder = same[: same.rfind("/") + 1][:MAX_PREFIX]
    folder = folder[: folder.rfind("/") + 1]
    return "" if folder in ("", "/") else folder


class Learner:
    def __init__(self, learn_after: int = 3):
        self.learn_after = learn_after
        self._seen: OrderedDict[str, tuple[set[str], set[str]]] = OrderedDict()  # host -> (keys, paths)
        self._content: OrderedDict[str, None] = OrderedDict()  # hosts seen serving a real image
        self._learned: set[str] = set()
        self._lock = threading.Lock()

    def sighting(self, host: str, site: str, url: str) -> Learned | None:
        """Record a pixel served by ``host``; returns what to learn when the host has just been learned."""
        if not host:
            return None
        key = f"site:{site}" if site else f"url:{url}"
        path = _path_of(url)
        with self._lock:
            if host in self._learned or host in self._content:
                return None
            keys, paths = self._seen.pop(host, (set(), set()))
            if len(keys) < MAX_KEYS:
                keys.add(key)
                paths.add(path)
            self._seen[host] = (keys, paths)
            if len(self._seen) > MAX_HOSTS:
                self._seen.popitem(last=False)
            sites = sorted(k[5:] for k in keys if k.startswith("site:"))
            urls = [k for k in keys if k.startswith("url:")]
            if len(sites) >= self.learn_after:
                evidence = f"1x1 pixels on {len(sites)} sites: {', '.join(sites[:5])}"
            elif len(urls) >= self.learn_after:
                evidence = f"1x1 pixels at {len(urls)} URLs with no site (mail)"
            else:
                return None
            self._learned.add(host)
            del self._seen[host]
            return Learned(evidence, narrowest(sorted(paths)))

    def real_image(self, host: str) -> None:
        """``host`` served an image bigger than a pixel: it serves content, so it is never learned whole."""
        if not host:
            return
        with self._lock:
            self._seen.pop(host, None)
            self._content.pop(host, None)
            self._content[host] = None
            if len(self._content) > MAX_HOSTS:
                self._content.popitem(last=False)

    def sync(self, learned_hosts: list[str]) -> None:
        """Match what the learned list holds now: a host whose rule was removed can be learned again."""
        with self._lock:
            self._learned = set(learned_hosts)


def _path_of(url: str) -> str:
    """The URL's path, without query or fragment ("/" when it has none)."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    if slash < 0:
        return "/"
    path = rest[slash:]
    for sep in "?#":
        i = path.find(sep)
        if i >= 0:
            path = path[:i]
    return path or "/"


def under(path: str, prefix: str) -> bool:
    """Would the learned rule ``||host{prefix}`` match this path (query included) of its host? Asked of the
    engine's own matcher, so that ``^`` means here what it means in every rule."""
    return not prefix or wild.compiled(prefix.lower()).match(path.lower(), 0)
