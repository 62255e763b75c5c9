"""A server whose first address does not answer is reached at its next one a quarter of a second later, as a
browser reaches it.

mitmproxy opens its connections to servers with asyncio's ``create_connection``, which tries a name's addresses
one after another: when the first never answers (an IPv6 address on a network whose IPv6 leads nowhere, one
server of several that is down), the connection waits for TCP to give up on it, about two minutes on Linux,
before the next address is tried (mitmproxy issue 8088). Browsers race the addresses instead (Happy Eyeballs, RFC
8305: the next address is tried when the one before has not connected within the Connection Attempt Delay, 250 ms
recommended, the address families taking turns; Chromium waits 300 ms, ``kIPv6FallbackTime``). So through a proxy
without it, a page that a browser alone loads at once hangs.

Here every connection the proxy's event loop makes to a name with more than one address races them that way,
unless the caller asked for something else. A name with one address, and an IP address, connect as before.

The race is aiohappyeyeballs' (aio-libs, aiohttp's own), not asyncio's: mitmproxy 12 runs its event loop with
eager tasks, and asyncio's race fails under those, an AssertionError for every such connection, in the CPython
releases before its fix of autumn 2024 (CPython issue 124309): 3.12.1 and 3.13.0 here, and Ubuntu 24.04's 3.12.3.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohappyeyeballs

from pixelguard.engine.rules import is_address

ATTEMPT_DELAY_S = 0.25  # RFC 8305's recommended Connection Attempt Delay
# What a raced connection may be asked for besides its host and port (mitmproxy asks for local_addr only); a
# caller that asks for more (TLS, its own delay, a socket) connects as asyncio connects it.
_RACED = frozenset({"local_addr", "family", "proto", "flags"})


def race_addresses(loop: asyncio.AbstractEventLoop) -> None:
    """Have ``loop``'s connections try a name's next address after ATTEMPT_DELAY_S (see the module's text).

    Install it after the loop's address cache (``address_cache.cache_addresses``): it looks a name up before the
    connection does, which without the cache would be two lookups."""
    if getattr(loop, "pixelguard_race", False):
        return
    create = loop.create_connection

    async def create_connection(
        protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
    ) -> Any:
        if host is None or is_address(host) or not kwargs.keys() <= _RACED:
            return await create(protocol_factory, host, port, **kwargs)
        asked = {k: kwargs.get(k, 0) for k in ("family", "proto", "flags")}
        # Raced only when there is more than one address. The lookup is the one create_connection would make,
        # answered from memory the second time (proxy/address_cache.py, installed first).
        addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, **asked)
        if len(addresses) < 2:
            return await create(protocol_factory, host, port, **kwargs)
        local = kwargs.get("local_addr")
        local_infos = None
        if local is not None:
            local_infos = await loop.getaddrinfo(*local, type=socket.SOCK_STREAM, **asked)
            if not local_infos:
                raise OSError(f"getaddrinfo({local!r}) returned empty list")  # as asyncio says it
        # The families take turns (interleave 1), as asyncio's race and RFC 8305 have them.
        sock = await aiohappyeyeballs.start_connection(
            addresses, local_addr_infos=local_infos, happy_eyeballs_delay=ATTEMPT_DELAY_S, loop=loop
        )
        try:
            return await create(protocol_factory, sock=sock)
        except BaseException:
            sock.close()
            raise

    # An attribute of this loop only: asyncio.open_connection asks ``loop.create_connection``.
    loop.create_connection = create_connection  # type: ignore[method-assign]
    loop.pixelguard_race = True  # type: ignore[attr-defined]
