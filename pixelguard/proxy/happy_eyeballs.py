"""A server whose first address does not answer is reached at its next one a quarter of a second later, as a
browser reaches it.

mitmproxy opens its connections to servers with asyncio's ``create_connection``, which tries a name's addresses
one after another: when the first never answers (an IPv6 address on a network whose IPv6 leads nowhere, one
server of several that is down), the connection waits for TCP to give up on it, about two minutes on Linux,
before the next address is tried (mitmproxy issue 8088). Browsers race the addresses instead (Happy Eyeballs, RFC
8305: the next address is tried when the one before has not connected within the Connection Attempt Delay, 250 ms
recommended, the address families taking turns; Chromium waits 300 ms, ``kIPv6FallbackTime``). So through a proxy
without it, a page that a browser alone loads at once hangs.

Here every connection the proxy's event loop makes to a name is made to the addresses the loop's ``getaddrinfo``
gives (the address cache, proxy/address_cache.py, installed first), a name with more than one address racing them
that way (asyncio's own ``staggered_race``, which its ``happy_eyeballs_delay`` uses). The connection is made here
rather than by asking the loop's ``create_connection`` to race, because uvloop's (proxy/event_loop.py) neither
races nor asks the loop's ``getaddrinfo``: it would look every name up again, past the cache. An IP address, and a
caller that asks for more than a family, protocol or flags, are handed to the loop's ``create_connection`` as
they are.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from asyncio.staggered import staggered_race
from typing import Any

from pixelguard.engine.rules import is_address

ATTEMPT_DELAY_S = 0.25  # RFC 8305's recommended Connection Attempt Delay

_OURS = frozenset({"family", "proto", "flags", "local_addr"})  # what mitmproxy's open_connection passes


def race_addresses(loop: asyncio.AbstractEventLoop) -> None:
    """Have ``loop``'s connections to a name made here, its addresses raced (see the module's text).

    Install it after the loop's address cache (``address_cache.cache_addresses``): the lookup here is then the
    cache's."""
    if getattr(loop, "pixelguard_race", False):
        return
    create = loop.create_connection

    async def create_connection(
        protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
    ) -> Any:
        if not isinstance(host, str) or is_address(host) or set(kwargs) - _OURS or kwargs.get("local_addr"):
            return await create(protocol_factory, host, port, **kwargs)
        found = await loop.getaddrinfo(
            host, port, family=kwargs.get("family", 0), type=socket.SOCK_STREAM, proto=kwargs.get("proto", 0),
            flags=kwargs.get("flags", 0),
        )  # fmt: skip
        sock = await connect_first(loop, found)
        return await create(protocol_factory, sock=sock)

    # An attribute of this loop only: asyncio.open_connection asks ``loop.create_connection``.
    loop.create_connection = create_connection  # type: ignore[method-assign]
    loop.pixelguard_race = True  # type: ignore[attr-defined]


async def connect_first(loop: asyncio.AbstractEventLoop, found: list[Any]) -> socket.socket:
    """A socket connected to the first of ``found`` (getaddrinfo's answers) to answer: each tried ATTEMPT_DELAY_S
    after the one before, or at once when it fails, the address families taking turns."""
    if not found:
        raise OSError("getaddrinfo() returned empty list")  # asyncio's words for it
    ordered = interleave(found)
    if len(ordered) == 1:  # nothing to race: a race costs a few turns of the loop
        return await _connect(loop, ordered[0])
    sock, _, errors = await staggered_race(
        [functools.partial(_connect, loop, info) for info in ordered], ATTEMPT_DELAY_S, loop=loop
    )
    if sock is not None:
        return sock
    failed = [e for e in errors if e is not None]
    if len({str(e) for e in failed}) == 1:
        raise failed[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(e) for e in failed)}")  # as asyncio words it


def interleave(found: list[Any]) -> list[Any]:
    """getaddrinfo's answers with the families taking turns, the first answer's family first (RFC 8305, 4)."""
    families: dict[int, list[Any]] = {}
    for info in found:
        families.setdefault(info[0], []).append(info)
    queues = list(families.values())
    ordered: list[Any] = []
    for i in range(max(len(q) for q in queues)):
        ordered.extend(q[i] for q in queues if i < len(q))
    return ordered


async def _connect(loop: asyncio.AbstractEventLoop, info: Any) -> socket.socket:
    family, type_, proto, _, address = info
    sock = socket.socket(family, type_, proto)
    try:
        sock.setblocking(False)
        # Small writes go out at once: asyncio's transport sets this only on the sockets it connects itself.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()  # an attempt that failed or lost the race
        raise
    return sock
