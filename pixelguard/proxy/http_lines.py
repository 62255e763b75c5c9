"""A stream whose first line has not all arrived is not relayed unseen as raw TCP when it starts like HTTP.

After the TLS handshake with a client that offered no ALPN (Python's http.client, many apps' HTTP libraries; not
browsers, which offer h2 and http/1.1), mitmproxy decides what the decrypted stream carries from its first bytes
(``NextLayer._next_layer``, step 5d): HTTP when a space comes before the first line end. With no line end yet,
that test compares the space's place with -1, ``find``'s "not found", and the stream is relayed as raw TCP: every
byte of it goes to the server and no hook sees it, so nothing is blocked and nothing recorded. A request line
longer than a TLS record (16 KB; a tracker's beacon carrying a page's state, such as the 17 KB one in
../shared's pagexray requests) always arrives in two, and whether the first read already held the line end was a
matter of timing: tests/e2e/test_check_agrees.py let such a beacon through in about one run in four.

The same holds for a first read that ends inside the method (``GE``). Here a stream that starts as mitmproxy
takes for HTTP once its line ends (three letters and a space, or a method still being written; nothing from the
server; not SSH) but has no line end yet waits for more bytes, and past REQUEST_LINE_WAIT bytes is taken for
HTTP. A connection mitmproxy relays on purpose is left to it: an ignored one, and, once the wait is over, any
when ``tcp_hosts``, ``ignore_hosts`` or ``allow_hosts`` is set (they choose raw relays by name).

Blank lines before the request line, which HTTP servers ignore (RFC 9112, 2.2), made mitmproxy's test fail outright
(its first three bytes are no letters): ``\r\nGET /pixel.gif HTTP/1.1`` was relayed raw, undecided. Such a stream's
leading blank lines are dropped when what follows starts like HTTP (mitmproxy's HTTP reader would otherwise take
the first blank line alone and wait for more), and a stream of nothing but blank lines so far waits. Any other
stream's bytes are left as they came.
"""

from __future__ import annotations

from typing import Any

from pixelguard.limits import REQUEST_LINE_WAIT

# A method still being written, with no space after it yet, is letters (and hyphens) and at most this long (the
# longest in IANA's HTTP method registry, BASELINE-CONTROL, is 16 characters; mitmproxy wants three letters first).
_METHOD_MAX = 20


def starts_like_http(data_client: bytes, data_server: bytes) -> bool:
    """mitmproxy's own test for HTTP (step 5d) on a first line that has not ended yet: three letters and a space
    (``GET /a``), or a method not yet followed by its space (``G``, ``GET``), which mitmproxy relays raw too."""
    if not data_client or data_server or b"\n" in data_client or data_client.startswith(b"SSH"):
        return False
    method, space, _ = data_client.partition(b" ")
    if not space:
        return len(method) <= _METHOD_MAX and method[:3].isalpha() and method.replace(b"-", b"").isalpha()
    return data_client[:3].isalpha()


def _http_after_blank_lines(rest: bytes) -> bool:
    """Does what follows leading blank lines start like HTTP: mitmproxy's own test on a whole first line (a space
    before the line end, three letters first, not SSH), or ours on one not yet ended?"""
    if b"\n" not in rest:
        return starts_like_http(rest, b"")
    space = rest.find(b" ")
    return 0 <= space < rest.find(b"\n") and rest[:3].isalpha() and not rest.startswith(b"SSH")


def _first_client_byte(nextlayer: Any) -> bytes:
    """The first byte the client sent that ``nextlayer`` holds (b"" if none yet)."""
    from mitmproxy.proxy import events

    client = nextlayer.context.client
    for event in nextlayer.events:
        if isinstance(event, events.DataReceived) and event.data and event.connection == client:
            return event.data[:1]
    return b""


def _drop_client_bytes(nextlayer: Any, count: int) -> None:
    """Remove the first ``count`` bytes the client sent from what ``nextlayer`` holds for the layer it chooses."""
    from mitmproxy.proxy import events

    client = nextlayer.context.client
    kept = []
    for event in nextlayer.events:
        if count and isinstance(event, events.DataReceived) and event.connection == client:
            if len(event.data) <= count:
                count -= len(event.data)
                continue
            event = events.DataReceived(client, event.data[count:])
            count = 0
        kept.append(event)
    nextlayer.events[:] = kept


def http_until_the_line_ends() -> None:
    """Keep a partly arrived HTTP request line from being relayed as raw TCP (see the module's text)."""
    from mitmproxy import ctx
    from mitmproxy.addons import next_layer
    from mitmproxy.proxy import layers
    from mitmproxy.proxy.layers.http import HTTPMode

    cls = next_layer.NextLayer
    if getattr(cls, "pixelguard_http_lines", False):
        return
    base = cls._next_layer

    def relays_chosen_by_name() -> bool:
        """Does the user choose raw relays by name (mitmproxy's tcp_hosts, ignore_hosts, allow_hosts)?"""
        o = ctx.options
        return bool(o.tcp_hosts or o.ignore_hosts or o.allow_hosts)

    def _next_layer(self: Any, context: Any, data_client: bytes, data_server: bytes) -> Any:
        chosen = base(self, context, data_client, data_server)
        # An ignored connection's TCPLayer has no flow (mitmproxy shows it nowhere): it is relayed on purpose.
        if (
            type(chosen) is layers.TCPLayer
            and chosen.flow is not None
            and starts_like_http(data_client, data_server)
        ):
            if len(data_client) < REQUEST_LINE_WAIT:
                raise next_layer.NeedsMoreData
            if not relays_chosen_by_name():
                return layers.HttpLayer(context, HTTPMode.transparent)
        return chosen

    hook = cls.next_layer

    def next_layer_hook(self: Any, nextlayer: Any) -> None:
        # Only a stream that starts with a line end needs more than its first byte: the whole of what came (a
        # join over the layer's events) is read for that one alone, not for every tunnel's every decision.
        first = _first_client_byte(nextlayer) if nextlayer.layer is None else b""
        if first in (b"\r", b"\n") and not nextlayer.data_server():
            data = nextlayer.data_client()
            rest = data.lstrip(b"\r\n")
            if not rest and len(data) < REQUEST_LINE_WAIT:
                return  # nothing but blank lines so far: wait for what follows them
            if rest and _http_after_blank_lines(rest) and not relays_chosen_by_name():
                _drop_client_bytes(nextlayer, len(data) - len(rest))
        hook(self, nextlayer)

    cls._next_layer = _next_layer  # type: ignore[method-assign]
    cls.next_layer = next_layer_hook  # type: ignore[method-assign]
    cls.pixelguard_http_lines = True  # type: ignore[attr-defined]
