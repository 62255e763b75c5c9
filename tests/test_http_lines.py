"""A decrypted stream that starts like an HTTP request line whose end has not arrived yet is not relayed as raw TCP
(proxy/http_lines.py), asked of mitmproxy's own NextLayer addon with a real layer stack: a TLS tunnel opened by
CONNECT, decrypted, with no ALPN (as Python's http.client and many apps' libraries leave it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mitmproxy import connection, ctx
from mitmproxy.addons import next_layer
from mitmproxy.proxy import events, layer, layers
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers import modes
from mitmproxy.proxy.layers.http import HTTPMode
from mitmproxy.proxy.layers.tls import ClientTLSLayer, ServerTLSLayer
from mitmproxy.test import taddons

from pixelguard.limits import REQUEST_LINE_WAIT
from pixelguard.proxy.http_lines import http_until_the_line_ends, starts_like_http


@pytest.fixture
def addon(monkeypatch: pytest.MonkeyPatch) -> Iterator[next_layer.NextLayer]:
    monkeypatch.setattr(next_layer.NextLayer, "_next_layer", next_layer.NextLayer._next_layer)
    monkeypatch.setattr(next_layer.NextLayer, "next_layer", next_layer.NextLayer.next_layer)
    monkeypatch.delattr(next_layer.NextLayer, "pixelguard_http_lines", raising=False)
    http_until_the_line_ends()
    http_until_the_line_ends()  # twice is once
    nl = next_layer.NextLayer()
    with taddons.context(nl):
        yield nl


def _decrypted_tunnel() -> Context:
    client = connection.Client(peername=("127.0.0.1", 50000), sockname=("127.0.0.1", 8080), timestamp_start=1)
    context = Context(client, ctx.options)  # the addon's
    context.server.address = ("beacon.example", 443)
    context.layers = [
        modes.HttpProxy(context),
        layers.HttpLayer(context, HTTPMode.regular),
        ServerTLSLayer(context),
        ClientTLSLayer(context),
    ]
    return context


def _choose(addon: next_layer.NextLayer, data: bytes) -> object:
    try:
        return addon._next_layer(_decrypted_tunnel(), data, b"")
    except next_layer.NeedsMoreData:
        return "wait"


def test_a_request_line_not_yet_ended_waits_then_is_http(addon: next_layer.NextLayer) -> None:
    head = b"GET /rum.gif?co=" + b"%7B" * 100
    assert _choose(addon, head) == "wait"  # mitmproxy alone relays this as raw TCP, unseen
    assert _choose(addon, b"GE") == "wait"  # and this
    assert isinstance(_choose(addon, head + b" HTTP/1.1\r\nHost: beacon.example\r\n"), layers.HttpLayer)
    # A line longer than the wait (a 17 KB beacon arrives as a 16 KB TLS record first) is HTTP at once.
    long = b"GET /rum.gif?co=" + b"a" * REQUEST_LINE_WAIT
    assert isinstance(_choose(addon, long), layers.HttpLayer)


def test_what_is_not_http_is_still_relayed(addon: next_layer.NextLayer) -> None:
    for data in (
        b"\x00\x01binary protocol",
        b"SSH-2.0-OpenSSH_9.6",
        b"A1",
        b"NOSPACEYETANDLONGERTHANANYMETHOD",
    ):
        chosen = _choose(addon, data)
        assert type(chosen) is layers.TCPLayer, data


def test_tcp_hosts_keep_their_raw_relay_past_the_wait(addon: next_layer.NextLayer) -> None:
    long = b"GET /x?" + b"a" * REQUEST_LINE_WAIT
    ctx.options.update(tcp_hosts=["beacon\\.example"])
    addon.configure({"tcp_hosts"})
    assert _choose(addon, b"GET /x?a") == "wait"  # until the line ends, as for any host
    assert type(_choose(addon, long)) is layers.TCPLayer


def test_starts_like_http_is_mitmproxys_test_without_the_line_end() -> None:
    assert starts_like_http(b"GET /a", b"")
    assert not starts_like_http(b"GET /a", b"220 mail.example ESMTP")  # a server spoke first
    assert not starts_like_http(b"GET / HTTP/1.1\r\n", b"")  # the line ended: mitmproxy decides
    assert not starts_like_http(b"G3T /a", b"")
    for method_so_far in (
        b"G",
        b"GE",
        b"GET",
        b"OPTIONS",
        b"BASELINE-CON",
    ):  # the read ended inside the method
        assert starts_like_http(method_so_far, b""), method_so_far
    assert not starts_like_http(b"", b"")


def _ask(addon: next_layer.NextLayer, *reads: bytes) -> layer.NextLayer:
    """The NextLayer of a decrypted tunnel that has received ``reads`` from the client, asked as mitmproxy asks."""
    context = _decrypted_tunnel()
    nl = layer.NextLayer(context)
    for data in reads:
        nl.events.append(events.DataReceived(context.client, data))
    addon.next_layer(nl)
    return nl


def _client_bytes(nl: layer.NextLayer) -> bytes:
    return b"".join(e.data for e in nl.events if isinstance(e, events.DataReceived))


def test_blank_lines_before_a_request_line_do_not_make_it_raw_tcp(addon: next_layer.NextLayer) -> None:
    # HTTP servers ignore blank lines before a request line (RFC 9112, 2.2); mitmproxy took the stream for raw TCP.
    request = b"GET /pixel.gif HTTP/1.1\r\nHost: beacon.example\r\n\r\n"
    for reads in ((b"\r\n" + request,), (b"\n\r\n", request), (b"\r\n\r", b"\nGET /pixel.gif HTTP/1.1\r\n")):
        nl = _ask(addon, *reads)
        assert isinstance(nl.layer, layers.HttpLayer), reads
        assert _client_bytes(nl).startswith(b"GET /pixel.gif"), (
            reads
        )  # mitmproxy's reader gets the line first
    partial = _ask(
        addon, b"\r\nGET /pixel.gif?id="
    )  # its line not ended yet: waits, as without the blank line
    assert partial.layer is None
    only_blank = _ask(addon, b"\r\n\r\n")
    assert only_blank.layer is None and _client_bytes(only_blank) == b"\r\n\r\n"  # waits, nothing dropped
    # Past the wait, nothing but blank lines is what mitmproxy makes of it (a raw relay).
    assert type(_ask(addon, b"\r\n" * REQUEST_LINE_WAIT).layer) is layers.TCPLayer


def test_a_protocol_that_starts_with_a_blank_line_keeps_its_bytes(addon: next_layer.NextLayer) -> None:
    for data in (b"\r\n\x00\x01binary", b"\r\nSSH-2.0-OpenSSH_9.6\r\n", b"\nA1 LOGIN\r\n"):
        nl = _ask(addon, data)
        assert type(nl.layer) is layers.TCPLayer, data
        assert _client_bytes(nl) == data  # relayed as it came
