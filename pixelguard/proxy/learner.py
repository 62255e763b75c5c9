"""Pixel sightings → learned rules.

A host that answers with tracking pixels on ``learn_after`` distinct sites (or, when requests carry no site,
as mail clients' do, at ``learn_after`` distinct URLs) is a tracker the lists missed. The learner says so once
per host; the caller writes ``||host^`` to the learned list, and the list reload makes later requests stop
before they leave. Memory is bounded: only the most recently seen hosts are remembered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_HOSTS = 10_000
MAX_KEYS = 64  # distinct sites/URLs kept per host; more than learn_after is never needed


class Learner:
    def __init__(self, learn_after: int = 3):
        self.learn_after = learn_after
        self._seen: OrderedDict[str, set[str]] = OrderedDict()
        self._learned: set[str] = set()
        self._lock = threading.Lock()

    def sighting(self, host: str, site: str, url: str) -> str | None:
        """Record a pixel served by ``host``; returns the evidence text when the host has just been learned."""
        if not host:
            return None
        key = f"site:{site}" if site else f"url:{url}"
        with self._lock:
            if host in self._learned:
                return None
            keys = self._seen.pop(host, set())
            if len(keys) < MAX_KEYS:
                keys.add(key)
            self._seen[host] = keys
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
            return evidence

    def sync(self, learned_hosts: list[str]) -> None:
        """Match what the learned list holds now: a host whose rule was removed can be learned again."""
        with self._lock:
            self._learned = set(learned_hosts)
