"""A request that came over HTTP/2 or HTTP/3 without a Content-Length keeps its body on its way to an HTTP/1 server.

HTTP/2 and 3 frame a body themselves, so a client need not say its length (a streamed upload, a fetch() with a
stream body). HTTP/1 needs a Content-Length or chunked encoding, and mitmproxy turned such a request into HTTP/1
with neither (``_http1.Http1Client.send`` in mitmproxy 11 and 12 converts the head and adds nothing): the server
read an empty body, and the body's bytes as the start of the next request. pixelguard streams every body of
unknown length through its gate (proxy/decider.py), so each such upload through it lost its body.

Here, as the request's head is written for an HTTP/1 server, one with a body to come and neither header gets the
length of a body held whole, or else ``Transfer-Encoding: chunked``, which mitmproxy's HTTP/1 client then writes
the body in (it frames by the request's own headers).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any


def frame_translated_bodies() -> None:
    """Give an HTTP/2 or 3 request's body its HTTP/1 framing towards an HTTP/1 server (see the module)."""
    from mitmproxy.proxy.layers.http import RequestHeaders, _http1

    client: Any = _http1.Http1Client
    if getattr(client, "pixelguard_frames_bodies", False):
        return
    send = client.send

    def framed_send(self: Any, event: Any) -> Generator[Any, Any, None]:
        if isinstance(event, RequestHeaders) and not event.end_stream:
            r = event.request
            if (
                (r.is_http2 or r.is_http3)
                and "content-length" not in r.headers
                and "transfer-encoding" not in r.headers
            ):
                if r.raw_content is not None:  # held whole: its length is known
                    r.headers["content-length"] = str(len(r.raw_content))
                else:
                    r.headers["transfer-encoding"] = "chunked"
        return send(self, event)  # type: ignore[no-any-return,unused-ignore]

    client.send = framed_send
    client.pixelguard_frames_bodies = True
