"""A server whose first address does not answer is reached at its next one a quarter of a second later, as a
browser reaches it.

mitmproxy opens its connections to servers with asyncio's ``create_connection``, which tries a name's addresses
one after another: when the first never answers (an IPv6 address on a network whose IPv6 leads nowhere, one
server of several that is down), the connection waits for TCP to give up on it, about two minutes on Linux,
before the next address is tried (mitmproxy issue 8088). Browsers race the addresses instead (Happy Eyeballs, RFC
8305: the next address is tried when the one before has not connected within the Connection Attempt Delay, 250 ms
recommended, the address families taking turns; Chromium waits 300 ms, ``kIPv6FallbackTime``). So through a proxy
without it, a page that a browser alone loads at once hangs.

Here every connection the proxy's event loop makes races its addresses that way, unless the caller asked for
something else. A name with one address, and an IP address, connect as before.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

ATTEMPT_DELAY_S = 0.25  # RFC 8305's recommended Connection Attempt Delay


def race_addresses(loop: asyncio.AbstractEventLoop) -> None:
    """Have ``loop``'s connections try a name's next address after ATTEMPT_DELAY_S (see the module's text)."""
    if getattr(loop, "pixelguard_race", False):
        return
    create = loop.create_connection

    async def create_connection(*args: Any, **kwargs: Any) -> Any:
        host = args[1] if len(args) > 1 else kwargs.get("host")
        if host is not None and not _is_address(host):
            kwargs.setdefault("happy_eyeballs_delay", ATTEMPT_DELAY_S)  # asyncio then alternates the families
        return await create(*args, **kwargs)

    # An attribute of this loop only: asyncio.open_connection asks ``loop.create_connection``.
    loop.create_connection = create_connection  # type: ignore[method-assign]
    loop.pixelguard_race = True  # type: ignore[attr-defined]


def _is_address(host: Any) -> bool:
    """An IP address is one address: nothing to race (asyncio's race would cost tasks for nothing)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
