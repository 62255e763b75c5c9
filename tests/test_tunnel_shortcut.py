"""An established tunnel's shortcut (proxy/tunnel_shortcut.py) against mitmproxy's own layers: a real regular-mode
stack is given a CONNECT, and what the tunnel's layers give for an event comes out of the shortcut as it comes out
of the four layers it skips, close by close and send by send."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from mitmproxy import connection, ctx
from mitmproxy.connection import ConnectionState
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers import modes
from mitmproxy.proxy.layers.http import HttpLayer, HTTPMode
from mitmproxy.test import taddons

from pixelguard.proxy.tunnel_shortcut import WAIT, relayed_tunnel, straight_to

CONNECT = b"CONNECT tracker.example:443 HTTP/1.1\r\nHost: tracker.example:443\r\n\r\n"


class Scripted(layer.Layer):
    """A tunnel's layers, reduced to the commands they give for any event."""

    def __init__(self, context: Context, give: Callable[[Context], list[commands.Command]]):
        super().__init__(context)
        self.give = give

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        yield from self.give(self.context)


def _run(top: layer.Layer, event: events.Event, hold: type | None = None) -> list[Any]:
    """The commands ``top`` gives for ``event``, each hook answered at once (the HTTP proxy's NextLayer decided
    for regular HTTP) except one of type ``hold``, which is returned unanswered among the commands."""
    out: list[Any] = []
    pending = [event]
    while pending:
        for command in top.handle_event(pending.pop(0)):
            if isinstance(command, commands.StartHook) and not (hold and isinstance(command, hold)):
                data = command.args()[0]
                if isinstance(data, layer.NextLayer) and data.layer is None:
                    data.layer = HttpLayer(data.context, HTTPMode.regular)
                pending.append(events.HookCompleted(command))
            else:
                out.append(command)
    return out


def _proxied(hold: type | None = None) -> tuple[SimpleNamespace, list[Any]]:
    """A client connection's layers, as mitmproxy builds them in regular mode, once its CONNECT has been read."""
    client = connection.Client(peername=("127.0.0.1", 50000), sockname=("127.0.0.1", 8080), timestamp_start=1)
    client.state = ConnectionState.OPEN
    top = modes.HttpProxy(Context(client, ctx.options))
    _run(top, events.Start())
    given = _run(top, events.DataReceived(client, CONNECT), hold)
    return SimpleNamespace(layer=top, client=client), given


def _stream(handler: SimpleNamespace) -> Any:
    (stream,) = handler.layer._handle_event.__self__.layer.streams.values()
    return stream


def _said(given: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (type(c).__name__, c.connection.id, getattr(c, "data", None), getattr(c, "half_close", None))
        for c in given
        if not isinstance(c, commands.Log)
    ]


@pytest.fixture(autouse=True)
def options() -> Any:
    from mitmproxy.addons.proxyserver import Proxyserver

    with taddons.context(Proxyserver()) as tctx:  # the options the HTTP layers read
        tctx.configure(
            tctx.master.addons.get("proxyserver"), connection_strategy="lazy"
        )  # as pixelguard runs
        yield tctx


def test_an_answered_connect_is_shortened_to_its_tunnel_s_layers() -> None:
    handler, given = _proxied()
    assert any(isinstance(c, commands.SendData) and c.data.startswith(b"HTTP/1.1 200") for c in given)
    tunnel = relayed_tunnel(handler)
    assert isinstance(tunnel, layer.NextLayer) and tunnel is _stream(handler).child_layer


def test_a_connect_waiting_for_its_hook_is_asked_again_later() -> None:
    from mitmproxy.proxy.layers.http import HttpConnectedHook

    handler, given = _proxied(hold=HttpConnectedHook)
    assert any(isinstance(c, HttpConnectedHook) for c in given)
    assert relayed_tunnel(handler) is WAIT


def test_a_refused_connect_and_a_plain_request_have_no_tunnel() -> None:
    handler, _ = _proxied()
    _stream(handler).flow.request.method = "GET"  # the same stack, but a request that is not a CONNECT
    assert relayed_tunnel(handler) is None
    handler, _ = _proxied()
    stream = _stream(handler)
    stream._handle_event = stream.state_errored  # answered otherwise than 2xx (its stream no longer relays)
    assert relayed_tunnel(handler) is None


CASES: dict[str, Callable[[Context], list[commands.Command]]] = {
    "sends both ways": lambda c: [
        commands.SendData(c.client, b"to client"),
        commands.SendData(c.server, b"up"),
    ],
    "a send of nothing": lambda c: [commands.SendData(c.client, b"")],
    "the server half-closed": lambda c: [commands.CloseTcpConnection(c.server, half_close=True)],
    "the server closed": lambda c: [commands.CloseConnection(c.server)],
    "the client half-closed": lambda c: [commands.CloseTcpConnection(c.client, half_close=True)],
    "the client closed": lambda c: [commands.CloseConnection(c.client)],
    "a send, then the client closed": lambda c: [
        commands.SendData(c.client, b"last"),
        commands.CloseConnection(c.client),
    ],
}


@pytest.mark.parametrize("writable", [True, False], ids=["client writable", "client no longer writable"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_shortcut_passes_on_what_mitmproxy_s_layers_pass_on(case: str, writable: bool) -> None:
    results = []
    for shortened in (False, True):
        handler, _ = _proxied()
        stream = _stream(handler)
        tunnel = Scripted(stream.child_layer.context, CASES[case])
        stream.child_layer = tunnel
        if not writable:
            handler.client.state = ConnectionState.CAN_READ
        event = events.DataReceived(handler.client, b"bytes of the tunnel")
        given = list(straight_to(tunnel, handler.client)(event)) if shortened else _run(handler.layer, event)
        ids = {handler.client.id: "client", stream.context.server.id: "server"}
        results.append([(kind, ids[conn], data, half) for kind, conn, data, half in _said(given)])
    assert results[1] == results[0]
