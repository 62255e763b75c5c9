"""What a connection is given to send during one step of the event loop goes to its socket in one send.

mitmproxy sends each piece its layers produce the moment it is produced: a response's head and its body are each
a TLS record and each a send. On loopback, and on a VM, a send costs more than the bytes: the kernel runs the
receiving side's TCP work in the sender's time, and wakes the receiver. Under `scripts/bench-pageload --https`
sends were 29% of the proxy's busy time (py-spy), and a quarter of them followed another send to the same
connection in the same event (counted by wrapping mitmproxy's ``ConnectionHandler.server_event``).

Here a StreamWriter keeps what it is given until the step that gave it ends (``loop.call_soon``: before the loop
reads or waits again), then sends it as one. ``close`` and ``write_eof`` send what is kept first, so nothing is
lost or reordered, and a connection that closes meanwhile is sent nothing (as mitmproxy itself writes nothing to a
closing one). Backpressure is unchanged: what is kept reaches the transport's own buffer before the connection is
read again, and mitmproxy drains its writers after every read. Only the proxy process does this (``serve``); in
it, every StreamWriter is mitmproxy's.
"""

from __future__ import annotations

import asyncio
from typing import Any

_KEPT = "_pixelguard_kept"


def cork_stream_writes() -> None:
    """Make every asyncio StreamWriter of this process send one step's writes together (see the module's text)."""
    writer = asyncio.StreamWriter
    if getattr(writer, "pixelguard_corked", False):
        return
    write, close, write_eof = writer.write, writer.close, writer.write_eof

    def flush(self: Any) -> None:
        kept = self.__dict__.pop(_KEPT, None)
        if kept and not self.transport.is_closing():
            write(self, kept[0] if len(kept) == 1 else b"".join(kept))

    def corked_write(self: Any, data: bytes) -> None:
        if type(data) is not bytes:
            # A bytearray or a view: asyncio lets its writer change it once write returns.
            data = bytes(data)
        kept = self.__dict__.get(_KEPT)
        if kept is not None:
            kept.append(data)
        elif data:
            self.__dict__[_KEPT] = [data]
            self._loop.call_soon(flush, self)

    def flushed_close(self: Any) -> Any:
        flush(self)
        return close(self)

    def flushed_write_eof(self: Any) -> Any:
        flush(self)
        return write_eof(self)

    writer.write = corked_write  # type: ignore[method-assign]
    writer.close = flushed_close  # type: ignore[method-assign]
    writer.write_eof = flushed_write_eof  # type: ignore[method-assign]
    writer.pixelguard_corked = True  # type: ignore[attr-defined]
