"""What a connection is given to send while one of its events is handled goes to its socket in one send.

mitmproxy sends each piece its layers produce the moment it is produced: a response's head and its body are each
a TLS record and each a send. On loopback, and on a VM, a send costs more than the bytes: the kernel runs the
receiving side's TCP work in the sender's time, and wakes the receiver. Under `scripts/bench-pageload --https`
sends were 29% of the proxy's busy time (py-spy), and a quarter of them followed another send to the same
connection in the same event (counted by wrapping mitmproxy's ``ConnectionHandler.server_event``).

Here a StreamWriter keeps what it is given until the connection's event that gave it has been handled (the end of
mitmproxy's ``server_event`` for it, where proxy/inline_hooks.py calls ``send_kept``), then sends it as one; a
write made anywhere else is sent in the next step of the loop (``loop.call_soon``). Sent in the next step, as
everything was at first, each send waited behind the rest of the current step's callbacks (a step took 0.7 ms on
average under `scripts/bench-pageload --https`), at each of the four or five sends on a request's way: the CONNECT
answer, the handshakes' flights, the request, the response. Sent at the end of the event, the median page was
shorter in four of six runs against that (2.4-4.9%) and longer in two (2.5-2.6%), 2.9% shorter at the median of the
six (benchmarks/HISTORY.md, stop 53): a small gain, within what this benchmark can tell apart. ``close`` and ``write_eof``
send what is kept first, so nothing is lost or reordered, and a connection that closes meanwhile is sent nothing
(as mitmproxy itself writes nothing to a closing one). Backpressure is unchanged: what is kept reaches the
transport's own buffer before the connection is read again, and mitmproxy drains its writers after every read. Only
the proxy process does this (``serve``); in it, every StreamWriter is mitmproxy's.
"""

from __future__ import annotations

import asyncio
from typing import Any

_KEPT = "_pixelguard_kept"
# The writers holding something (by id), in the order of their first write since their last send; each leaves it
# when it sends, however it comes to send.
_waiting: dict[int, Any] = {}
_write: Any = None  # asyncio's own StreamWriter.write, once cork_stream_writes has replaced it


def send_kept() -> None:
    """Send what every writer holds: called when a connection's event has been handled (proxy/inline_hooks.py).
    Whatever it does not send, a writer sends in the step after its first write."""
    held = list(_waiting.values())
    _waiting.clear()
    for writer in held:
        _flush(writer)


def _flush(writer: Any) -> None:
    _waiting.pop(id(writer), None)
    kept = writer.__dict__.pop(_KEPT, None)
    if kept and not writer.transport.is_closing():
        _write(writer, kept[0] if len(kept) == 1 else b"".join(kept))


def cork_stream_writes() -> None:
    """Make every asyncio StreamWriter of this process send one event's writes together (see the module's text)."""
    writer = asyncio.StreamWriter
    if getattr(writer, "pixelguard_corked", False):
        return
    global _write
    _write, close, write_eof = writer.write, writer.close, writer.write_eof

    def corked_write(self: Any, data: bytes) -> None:
        if type(data) is not bytes:
            # A bytearray or a view: asyncio lets its writer change it once write returns.
            data = bytes(data)
        kept = self.__dict__.get(_KEPT)
        if kept is not None:
            kept.append(data)
        elif data:
            self.__dict__[_KEPT] = [data]
            self._loop.call_soon(_flush, self)  # unless send_kept sends it first
            _waiting[id(self)] = self

    def flushed_close(self: Any) -> Any:
        _flush(self)
        return close(self)

    def flushed_write_eof(self: Any) -> Any:
        _flush(self)
        return write_eof(self)

    writer.write = corked_write  # type: ignore[method-assign]
    writer.close = flushed_close  # type: ignore[method-assign]
    writer.write_eof = flushed_write_eof  # type: ignore[method-assign]
    writer.pixelguard_corked = True  # type: ignore[attr-defined]
