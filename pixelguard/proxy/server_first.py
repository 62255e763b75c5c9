"""Tunnels to protocols in which the server speaks first (SMTP, IMAP, POP3, FTP, MySQL) work, as without pixelguard.

pixelguard has mitmproxy connect to a server only when a request needs it (``connection_strategy: lazy``): a
tracker whose requests are all blocked never sees a connection. But mitmproxy decides what a tunnel carries from
the client's first bytes, and a client of a server-first protocol sends none: it waits for the server's greeting,
which never comes because there is no server connection yet. Through pixelguard such tunnels hung until the client
gave up (plain mitmdump, which connects at CONNECT, relays them), inside TLS too (IMAPS, SMTPS: the client's
handshake is with pixelguard, then it waits).

Here a tunnel whose client has sent nothing SERVER_FIRST_WAIT_S after it opened gets its server connection
(mitmproxy's own OpenConnection, as its eager strategy would have made at CONNECT), and the server's first bytes
decide the tunnel as mitmproxy decides it: raw TCP, recorded by raw_relays.py. Inside TLS this applies only when
the client offered no HTTP protocol in its handshake (ALPN): a browser offers one and may keep a tunnel open
unused (a preconnect), which must stay without a server connection. Nothing of a request leaves this way: the
CONNECT's host was decided before the tunnel opened, and a client that speaks later is decided as always.

The timer is the event loop's (inline_hooks.TimedWakeup), cancelled as soon as the tunnel is decided or its client
leaves: nearly every tunnel is decided within milliseconds, and mitmproxy's own wakeup, a task that sleeps, cost
each of them a task and a wake-up of the proxy a second later for nothing. One that comes after the tunnel was
decided anyway (a connection whose events mitmproxy handles itself) is dropped before any layer sees it, since the
layers that decided it never asked for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pixelguard.limits import SERVER_FIRST_WAIT_S

_WAKEUP = "_pixelguard_server_first"  # a NextLayer's wakeup, until it is decided


def let_servers_speak_first() -> None:
    """Make a silent tunnel connect to its server after SERVER_FIRST_WAIT_S (see the module)."""
    from mitmproxy.connection import ConnectionState
    from mitmproxy.proxy import commands, events, layer, server
    from mitmproxy.proxy.layers.tls import HTTP_ALPNS

    from pixelguard.proxy.inline_hooks import TimedWakeup

    if getattr(layer.NextLayer, "pixelguard_server_first", False):
        return

    class ServerFirstWakeup(TimedWakeup):
        def __init__(self, delay: float, waiting: layer.NextLayer):
            super().__init__(delay)
            self.waiting = waiting

        def due(self) -> bool:
            return self.waiting.layer is None

    def may_be_server_first(context: Any) -> bool:
        srv, client = context.server, context.client
        # No address: a client connection's own first layer (it names its server later).
        if srv.address is None or srv.connected:
            return False
        if client.tls_established:  # decrypted: only a client that offered no HTTP protocol
            return not any(offer in HTTP_ALPNS for offer in client.alpn_offers or ())
        return True

    handle = layer.NextLayer._handle_event

    def _handle_event(self: Any, event: Any) -> Any:
        if isinstance(event, events.Wakeup) and isinstance(event.command, ServerFirstWakeup):
            srv, client = self.context.server, self.context.client
            silent = self.layer is None and not self.data_client() and client.state & ConnectionState.CAN_READ
            if silent and srv.address is not None and not srv.connected:
                err = yield commands.OpenConnection(srv)
                if err:  # nothing to relay: the client, waiting for a greeting, learns it by the close
                    yield commands.CloseConnection(client)
            return
        if isinstance(event, events.Start) and may_be_server_first(self.context):
            self.__dict__[_WAKEUP] = ServerFirstWakeup(SERVER_FIRST_WAIT_S, self)
            yield self.__dict__[_WAKEUP]
        yield from handle(self, event)
        # Decided (the tunnel's layers handle its events from now on, never this function) or left: no wakeup.
        if self.layer is not None or isinstance(event, events.ConnectionClosed):
            wakeup = self.__dict__.pop(_WAKEUP, None)
            if wakeup is not None:
                wakeup.cancel()

    wakeup = server.ConnectionHandler.wakeup

    async def wakeup_if_undecided(self: Any, request: Any) -> None:
        if not isinstance(request, ServerFirstWakeup):
            await wakeup(self, request)
            return
        await asyncio.sleep(request.delay)
        self.wakeup_timer.discard(asyncio.current_task())
        # Decided in the meantime (the usual case): the layers now in place never asked for this wakeup.
        if request.waiting.layer is None:
            await self.server_event(events.Wakeup(request))

    layer.NextLayer._handle_event = _handle_event  # type: ignore[method-assign]
    server.ConnectionHandler.wakeup = wakeup_if_undecided  # type: ignore[method-assign]
    layer.NextLayer.pixelguard_server_first = True  # type: ignore[attr-defined]
