"""Headers pixelguard passes on are well-formed: an obs-fold (a header line continued on the next, starting with a
space or tab, which HTTP/1.1 deprecated) is replaced by a single space in requests and responses, as RFC 9112
section 5.2 asks of a proxy that forwards such a message; a CR or LF left inside a value after that goes too,
so that no header value can carry a line break to the next hop.
"""

from __future__ import annotations

import re

from mitmproxy import http

_FOLD = re.compile(rb"[ \t]*\r?\n[ \t]*")
_BREAK = re.compile(rb"[\r\n]")


def unfolded(headers: http.Headers) -> None:
    fields = headers.fields
    if not any(b"\n" in v or b"\r" in v for _, v in fields):
        return  # the common case: one scan in C
    headers.fields = tuple((k, _BREAK.sub(b"", _FOLD.sub(b" ", v))) for k, v in fields)


class HeaderHygiene:
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        unfolded(flow.request.headers)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            unfolded(flow.response.headers)
