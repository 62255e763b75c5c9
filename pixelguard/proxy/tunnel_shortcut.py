"""A CONNECT tunnel's events go straight to the tunnel's own layers, past the ones that carried its CONNECT.

In mitmproxy's regular mode a client connection's layers are HttpProxy > NextLayer > HttpLayer, whose
Http1Server reads the client's requests and whose HttpStream handles each. Once a CONNECT is answered 2xx, that
stream relays the tunnel for the rest of the connection's life: each read of the client's becomes the
Http1Server's ``RequestData``, then the stream turns it back into the read it was and hands it to the tunnel's
NextLayer (TLS, then the decrypted HTTP below it). Each command the tunnel's layers give climbs the same way, a send
to the client turned into ``ResponseData`` and back. Every read, every completed hook and every send of every
request in the tunnel pays for that, and the client connection carries nothing but the tunnel by then.

So once the CONNECT's stream relays and none of the layers above it holds anything (no paused command), the
connection's top layer hands its events to the tunnel's NextLayer directly. What the skipped layers did to them
is done here: a close of the client's is a full close, and none once the proxy can no longer write to it (the
Http1Server's answer to the stream's "EOF"); any other connection's half-close is a full close (mitmproxy closes a
tunnel whole, "to be consistent with half-closes"). Reads pass as they were; a send of nothing is dropped, as the
Http1Server dropped it.

Only an HTTP/1 CONNECT in regular mode is shortened. A client speaking HTTP/2 to the proxy itself (several
tunnels over one connection), upstream mode and every other stack keep mitmproxy's path. The check runs once the
tunnel's ``http_connected`` hook has completed (proxy/inline_hooks.py), again after each event while a layer
above is paused, and never again once done or found not to apply.

mitmproxy 11 and 12 build the same stack (``modes.HttpProxy`` hands its events to a NextLayer through its
``_handle_event``). With another one, nothing matches and every tunnel keeps the long path: behaviour the same,
only slower. tests/e2e/test_inline_hooks.py checks that a tunnel does take the shortcut, and
tests/test_tunnel_shortcut.py that what it passes on is what mitmproxy's own layers pass on, case by case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from mitmproxy.connection import ConnectionState
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.layers import modes
from mitmproxy.proxy.layers.http import HttpLayer, HTTPMode, HttpStream
from mitmproxy.proxy.layers.http._http1 import Http1Server

Events = Callable[[events.Event], Iterator[commands.Command]]


class Wait:
    """A layer above the tunnel holds a command: ask again after the next event."""


WAIT = Wait()


def relayed_tunnel(handler: Any) -> layer.NextLayer | Wait | None:
    """The tunnel's NextLayer when every layer above it only relays it; WAIT if one is paused; None if this
    connection is not an HTTP/1 CONNECT tunnel of regular mode (it never becomes one once its CONNECT is done)."""
    top = handler.layer
    if type(top) is not modes.HttpProxy:
        return None
    below = getattr(top._handle_event, "__self__", None)  # HttpProxy hands its events to its NextLayer's
    http = below.layer if type(below) is layer.NextLayer else None
    if type(http) is not HttpLayer or http.mode is not HTTPMode.regular or len(http.streams) != 1:
        return None
    reader = http.connections.get(handler.client)
    (stream,) = http.streams.values()
    if (
        type(reader) is not Http1Server
        or type(stream) is not HttpStream
        or stream.flow.request.method != "CONNECT"
    ):
        return None
    if top._paused or http._paused or reader._paused or stream._paused:  # its http_connected hook, say
        return WAIT
    if (
        reader.state != reader.passthrough
        or stream._handle_event != stream.passthrough
        or type(stream.child_layer) is not layer.NextLayer
    ):
        return None  # answered otherwise than 2xx: no tunnel
    return stream.child_layer


def straight_to(tunnel: layer.Layer, client: Any) -> Events:
    """The tunnel's layers' handling of an event, its commands as the skipped layers would have passed them on."""

    def handle_event(event: events.Event) -> Iterator[commands.Command]:
        for command in tunnel.handle_event(event):
            if isinstance(command, commands.CloseConnection):
                if command.connection == client:
                    if not client.state & ConnectionState.CAN_WRITE:
                        continue
                    command = commands.CloseConnection(client)
                elif type(command) is commands.CloseTcpConnection:
                    command = commands.CloseConnection(command.connection)
            elif type(command) is commands.SendData and not command.data and command.connection == client:
                continue
            yield command

    return handle_event
