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
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from pixelguard.engine.rules import is_address

ATTEMPT_DELAY_S = 0.25  # RFC 8305's recommended Connection Attempt Delay


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
        if (
            host is not None and "happy_eyeballs_delay" not in kwargs and not is_address(host)
        ):  # an address: nothing to race
            # Raced only when there is more than one address: asyncio's race costs a few turns of the event loop
            # even for one. The lookup is the one create_connection makes next, answered from memory the second
            # time (proxy/address_cache.py, installed first).
            addresses = await loop.getaddrinfo(
                host, port, family=kwargs.get("family", 0), type=socket.SOCK_STREAM, proto=kwargs.get("proto", 0),
                flags=kwargs.get("flags", 0),
            )  # fmt: skip
            if len(addresses) > 1:
                kwargs["happy_eyeballs_delay"] = ATTEMPT_DELAY_S  # asyncio then alternates the families too
        return await create(protocol_factory, host, port, **kwargs)

    # An attribute of this loop only: asyncio.open_connection asks ``loop.create_connection``.
    loop.create_connection = create_connection  # type: ignore[method-assign]
    loop.pixelguard_race = True  # type: ignore[attr-defined]
