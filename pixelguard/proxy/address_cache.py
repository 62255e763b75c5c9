"""A server's addresses looked up once a minute, as a browser's own host cache keeps them.

mitmproxy opens every connection to a server with ``asyncio.open_connection(host, port)``, and asyncio asks the
system's resolver anew each time (``getaddrinfo`` in a thread of the loop's executor). A browser without a proxy
does not: Chromium keeps what the system resolver answered for a minute and answers nothing from a failure
(``kCacheEntryTTLSeconds = 60``, ``kNegativeCacheEntryTTLSeconds = 0``, net/dns/host_resolver_manager_job.cc;
Firefox's ``network.dnsCacheExpiration`` is 60 s too). Through a proxy that asks every time, each new connection
to a server waits for a lookup the browser alone would have skipped: a round trip to the resolver where the
machine has no caching one of its own (Debian's default: /etc/resolv.conf names the router), and a hand-over to
an executor thread everywhere (measured: README, Performance, "Host lookups").

Here the proxy's event loop keeps each answer for ``TTL_S`` seconds, for the ``MAX_HOSTS`` used last; lookups of
one name that overlap share one ``getaddrinfo``; a failure is never kept; and when a connection to a host fails,
its answers are dropped, so the next connection asks again (a server that moved is found at once, not a minute
later). An IP address is never looked up (asyncio takes it as it is), CNAME uncloaking's lookups (cname.py) are
its own, and the cache lives in memory only.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

TTL_S = 60.0  # Chromium's and Firefox's for a system resolver's answer (see the module's text)
MAX_HOSTS = 1000  # Chromium's host cache holds 1,000 answers (kDefaultCacheSize, net/dns/resolve_context.cc)

Options = tuple[Any, int, int, int, int]  # port, family, type, proto, flags
Resolve = Callable[..., Awaitable[list[Any]]]


class AddressCache:
    """``getaddrinfo`` for one event loop, answered from memory for ``ttl`` seconds. Not thread-safe: the loop's."""

    def __init__(
        self,
        resolve: Resolve,
        *,
        ttl: float = TTL_S,
        max_hosts: int = MAX_HOSTS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._resolve = resolve
        self._ttl = ttl
        self._max = max_hosts
        self._clock = clock
        # host -> {(port, family, ...): (expires, answer)}, the host used least recently first
        self._answers: OrderedDict[Any, dict[Options, tuple[float, list[Any]]]] = OrderedDict()
        self._pending: dict[tuple[Any, Options], asyncio.Task[list[Any]]] = {}
        self.lookups = 0  # getaddrinfo calls made (the rest were answered from memory or shared)

    async def getaddrinfo(
        self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        options = (port, family, type, proto, flags)
        kept = self._answers.get(host)
        if kept is not None and options in kept:
            expires, answer = kept[options]
            if expires > self._clock():
                self._answers.move_to_end(host)
                return list(answer)
            del kept[options]
        task = self._pending.get((host, options))
        if task is None:
            self.lookups += 1
            task = asyncio.ensure_future(
                self._resolve(host, port, family=family, type=type, proto=proto, flags=flags)
            )
            self._pending[host, options] = task
            task.add_done_callback(lambda t: self._settled(host, options, t))
        # Shielded: a connection given up while it waits (its client left) does not cancel the lookup that the
        # others waiting on the same name share.
        return list(await asyncio.shield(task))

    def _settled(self, host: Any, options: Options, task: asyncio.Task[list[Any]]) -> None:
        if self._pending.get((host, options)) is task:
            del self._pending[host, options]
        if task.cancelled() or task.exception() is not None:
            return  # a failure is asked again by the next connection, as a browser does
        self._answers.setdefault(host, {})[options] = (self._clock() + self._ttl, task.result())
        self._answers.move_to_end(host)
        while len(self._answers) > self._max:
            self._answers.popitem(last=False)

    def forget(self, host: Any) -> None:
        """Drop what is kept for ``host`` (a connection to it failed: it may have moved)."""
        self._answers.pop(host, None)

    def __len__(self) -> int:
        """Hosts kept."""
        return len(self._answers)

    # mitmproxy hook: a connection to a server could not be made
    def server_connect_error(self, data: Any) -> None:
        address = data.server.address
        if address:
            self.forget(address[0])


def cache_addresses(loop: asyncio.AbstractEventLoop) -> AddressCache:
    """Have ``loop`` look each server up once a minute (see the module's text); returns the cache, an addon too."""
    cache = getattr(loop, "pixelguard_addresses", None)
    if cache is None:
        cache = AddressCache(loop.getaddrinfo)
        # An attribute of this loop only: asyncio's create_connection asks ``self.getaddrinfo``.
        loop.getaddrinfo = cache.getaddrinfo  # type: ignore[method-assign]
        loop.pixelguard_addresses = cache  # type: ignore[attr-defined]
    return cache
