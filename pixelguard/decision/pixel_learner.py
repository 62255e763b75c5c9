"""Pixel sightings → learned rules, as narrow as the evidence.

A host that answers with tracking pixels on ``learn_after`` distinct sites (or, when requests carry no site,
as mail clients' do, at ``learn_after`` distinct URLs) is a tracker the lists missed. The learner says so once
per host, with the narrowest rule the sightings support: the path the pixels shared (``/t/`` when they all lay
under it, ``/open.gif^`` when it was one file), the whole host only when they shared nothing. A host that was
also seen serving a real image (bigger than a pixel) is never learned: its pixels are replaced one by one, and
its photos keep loading.

Memory is bounded whatever the traffic: at most ``MAX_HOSTS`` hosts (the least recently seen go first), and per
host at most ``MAX_KEYS`` short keys and a summary of its paths (their common prefix, cut at ``MAX_PREFIX``,
and whether they were all one path), never the paths themselves: a page serving pixels at ever-new 4 KB paths
grows nothing.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from pixelguard.engine import wild

MAX_HOSTS = 10_000
MAX_KEYS = 64  # distinct sites/URLs kept per host; more than learn_after is never needed
MAX_PREFIX = 200  # a longer shared path is cut back to a folder: the rule is a line a person reads
# Characters that mean something in a filter rule's pattern: a path holding one is cut before it.
_SPECIAL = "*^|$"


class Learned(NamedTuple):
    evidence: str  # why, for the comment above the rule
    prefix: str  # the path the rule is limited to ("" for the whole host); see learned_rule


def _special_at(path: str) -> int:
    return min((path.find(c) for c in _SPECIAL if c in path), default=-1)


def key_of(text: str) -> int:
    """A short fixed-size key for a URL or a path: its 64-bit hash, so that long ones cost what short ones cost
    (an int of 32 bytes: a hex string of it took 73, and 10,000 hosts hold up to 64 each)."""
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big"
    )


@dataclass(slots=True)
class PathSummary:
    """What narrowest() needs of a host's pixel paths, in constant space."""

    prefix: str | None = None  # common prefix of the paths so far, at most MAX_PREFIX + 1 characters
    first: int = 0  # key of the first path: all paths were one while each has this key
    same: bool = True
    cut: int = -1  # the earliest position of a rule-special character in any path (-1: none)

    def add(self, path: str) -> None:
        at = _special_at(path)
        if at >= 0:
            self.cut = at if self.cut < 0 else min(self.cut, at)
        head = path[: MAX_PREFIX + 1]
        if self.prefix is None:
            self.prefix, self.first = head, key_of(path)
            return
        self.prefix = os.path.commonprefix([self.prefix, head])  # noqa: RUF071 (characters on purpose)
        if self.same and key_of(path) != self.first:
            self.same = False

    def narrowest(self) -> str:
        """The path prefix shared by every pixel URL: one file (``/open.gif^``), a folder (``/t/``) or ""."""
        if self.prefix is None:
            return ""
        same = self.prefix
        if self.cut >= 0:
            same = same[: self.cut]
        elif self.same and len(same) <= MAX_PREFIX:
            return same + "^"  # one file: any query, nothing past its name
        folder = same[: same.rfind("/") + 1][:MAX_PREFIX]
        folder = folder[: folder.rfind("/") + 1]
        return "" if folder in ("", "/") else folder


def narrowest(paths: list[str]) -> str:
    """The path prefix shared by every pixel URL: one file (``/open.gif^``), a folder (``/t/``) or "" (none)."""
    summary = PathSummary()
    for p in paths:
        summary.add(p)
    return summary.narrowest()


@dataclass(slots=True)
class _Host:
    keys: set[int] = field(default_factory=set)  # a site's key is odd, a URL's even (see sighting)
    paths: PathSummary = field(default_factory=PathSummary)
    sites: list[str] = field(default_factory=list)  # the first few sites, for the evidence comment


class Learner:
    def __init__(self, learn_after: int = 3):
        self.learn_after = learn_after
        self._seen: OrderedDict[str, _Host] = OrderedDict()
        self._content: OrderedDict[str, None] = OrderedDict()  # hosts seen serving a real image
        self._learned: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def sighting(self, host: str, site: str, url: str) -> Learned | None:
        """Record a pixel served by ``host``; returns what to learn when the host has just been learned."""
        if not host:
            return None
        by_site = bool(site)
        key = (key_of(site) << 1 | 1) if by_site else key_of(url) << 1
        path = path_of(url)
        with self._lock:
            if host in self._learned or host in self._content:
                return None
            seen = self._seen.pop(host, None) or _Host()
            if len(seen.keys) < MAX_KEYS and key not in seen.keys:
                seen.keys.add(key)
                seen.paths.add(path)
                if by_site and len(seen.sites) < 5:
                    seen.sites.append(site[:100])
            elif key in seen.keys:
                seen.paths.add(path)
            self._seen[host] = seen
            if len(self._seen) > MAX_HOSTS:
                self._seen.popitem(last=False)
            nsites = sum(k & 1 for k in seen.keys)
            nurls = len(seen.keys) - nsites
            if nsites >= self.learn_after:
                evidence = f"1x1 pixels on {nsites} sites: {', '.join(sorted(seen.sites))}"
            elif nurls >= self.learn_after:
                evidence = f"1x1 pixels at {nurls} URLs with no site (mail)"
            else:
                return None
            self._learned.add(host)
            del self._seen[host]
            return Learned(evidence, seen.paths.narrowest())

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


def path_of(url: str) -> str:
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


def learned_rule(host: str, prefix: str = "") -> str:
    """The rule for pixels learned at ``host`` (a normalised name): only images (the learner saw tiny images,
    not that everything the host serves is tracking), and only under ``prefix`` when the pixels shared one:
    ``/t/`` (a folder, every URL under it) or ``/open.gif^`` (one file, any query)."""
    return f"||{host}{prefix or '^'}$image"


def under(path: str, prefix: str) -> bool:
    """Would the learned rule ``||host{prefix}`` match this path (query included) of its host? Asked of the
    engine's own matcher, so that ``^`` means here what it means in every rule."""
    return not prefix or wild.compiled(prefix.lower()).match(path.lower(), 0)
