"""A request stopped while its body streams ends at once, for its client and its server, over HTTP/1 and HTTP/2.

A body too big to hold streams upstream while the body stages read it (proxy/decider.py's gate), and when they
stop it the gate kills the flow. But mitmproxy cannot kill a flow in transit (its issue 4711: ``flow.kill()`` only
marks the flow, and a request whose body streams is never checked for the mark): it went on to send the request's
end to the server, which waited for the body pixelguard had cut, and the client waited with it until its own
time-out (30 s for Python's http.client, 20 s for the HTTP/2 test client; a browser's upload hangs as long).

Here, once a piece of a streamed body has been handled, a flow killed meanwhile is ended as mitmproxy ends one
whose client went away mid-upload: the request is aborted towards the server (an HTTP/1 server connection closed,
an HTTP/2 stream reset), and the client gets no response (an HTTP/1 connection closed, as for every killed flow; an
HTTP/2 stream reset, the connection's other streams untouched), and the ``error`` hook runs, as for any killed
flow. What the layer would have yielded after the kill (the ``request`` hook, the request's end for the server)
is not yielded: the gate has recorded the stop.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any


def end_stopped_uploads() -> None:
    """Make mitmproxy end a streamed request killed by a hook (see the module)."""
    from mitmproxy.proxy.layers import http as layers

    from pixelguard.proxy.flow_note import killed

    stream: Any = layers.HttpStream
    if getattr(stream, "pixelguard_ends_stopped_uploads", False):
        return
    original = stream.state_stream_request_body

    try:  # mitmproxy 12 says why a request is aborted, and requires it
        from mitmproxy.proxy.layers.http._events import ErrorCode  # type: ignore[attr-defined,unused-ignore]

        why: tuple[Any, ...] = (ErrorCode.KILL,)
    except ImportError:
        why = ()

    def abort(self: Any) -> Generator[Any, Any, None]:
        aborted = layers.RequestProtocolError(self.stream_id, "stopped by pixelguard", *why)
        yield layers.SendHttp(aborted, self.context.server)
        # The client's side: no response, the states errored, and the error hook, which every addon counting a
        # request in flight (the body budget, the streams of an HTTP/2 connection) takes as its end.
        yield from self.check_killed(True)
        yield layers.DropStream(self.stream_id)

    def state_stream_request_body(self: Any, event: Any) -> Generator[Any, Any, None]:
        if killed(self.flow):
            return  # ended already; what the client still sends for it is dropped
        steps = original(self, event)
        reply = None
        while True:
            try:
                command = steps.send(reply)
            except StopIteration:
                break
            if killed(self.flow):
                steps.close()
                break
            reply = yield command
        if killed(self.flow):
            yield from abort(self)

    stream.state_stream_request_body = state_stream_request_body
    stream.pixelguard_ends_stopped_uploads = True
