"""What a connection reads is handled in the step of the event loop that read it, instead of a step later.

mitmproxy reads each connection in a task of its own (``ConnectionHandler.handle_connection``): a loop that awaits
``StreamReader.read`` and hands each piece to the connection's layers. When bytes arrive, asyncio's read callback
puts them in the reader's buffer and wakes that task, and the task runs in the next step of the loop, behind every
other callback already queued: under `scripts/bench-pageload --https` a step took 0.7 ms on average, and a request
is read three or four times on its way (3,552 reads for the 984 requests of `--pages 20` and its warm-up: the
CONNECT, the client's handshake and its request, the server's handshake and response, a kept tunnel reading
fewer). It also costs a wake-up of the task per read.

Here, while that task is parked in ``read`` with nothing buffered, the read callback hands the bytes to the
connection's layers itself (``server_event``, which never waits: mitmproxy holds its one lock there without an
``await``). Everything else is as before, through the task: bytes that arrive while it still has some to handle,
or while a writer of the connection is over its high-water mark (the task drains the writers before it reads on,
which is mitmproxy's backpressure), or once the task is being cancelled; the end of the stream and read errors
too. Only TCP connections read through asyncio's StreamReader take this path.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mitmproxy.proxy import events

log = logging.getLogger(__name__)
_resumed: set[asyncio.Future[Any]] = set()  # kept until done (the loop holds its tasks weakly)
_BY_TASK = "_pixelguard_reads_by_task"  # set on a handler whose event waited while read directly


def read_directly() -> None:
    """Have every connection of this process handle its reads in the step that read them (see the module's text)."""
    from mitmproxy.proxy.server import ConnectionHandler

    if getattr(ConnectionHandler, "pixelguard_direct_reads", False):
        return
    base = ConnectionHandler.handle_connection

    async def handle_connection(self: Any, connection: Any) -> None:
        io = self.transports.get(connection)
        reader = getattr(io, "reader", None)
        if not (
            type(reader) is asyncio.StreamReader
            and connection.transport_protocol == "tcp"
            and _as_expected(self, reader)
        ):
            return await base(self, connection)
        reader.feed_data = _feeder(self, connection, io, reader)  # type: ignore[method-assign]
        try:
            return await base(self, connection)
        finally:
            # The function refers to the handler, which refers to the reader: gone, it leaves no cycle behind.
            del reader.feed_data

    ConnectionHandler.handle_connection = handle_connection  # type: ignore[method-assign]
    ConnectionHandler.pixelguard_direct_reads = True  # type: ignore[attr-defined]


def _as_expected(handler: Any, reader: asyncio.StreamReader) -> bool:
    """Whether the handler and the reader hold what this module looks at (private to mitmproxy and asyncio: a
    version that moved them reads every connection through its task, as mitmproxy does)."""
    return all(hasattr(reader, a) for a in ("_waiter", "_buffer")) and hasattr(handler, "_server_event_lock")


def _feeder(handler: Any, connection: Any, io: Any, reader: asyncio.StreamReader) -> Any:
    """The reader's ``feed_data``: bytes go to the connection's layers at once when its task is parked in ``read``
    with nothing buffered and nothing holds it back, else to the buffer for the task, as before."""
    to_buffer = asyncio.StreamReader.feed_data.__get__(reader)

    def feed_data(data: bytes) -> None:
        waiter = reader._waiter  # type: ignore[attr-defined]
        reading = io.handler  # the connection's task
        if (
            waiter is None  # the task is not parked in read: it has bytes to handle, or is draining writers
            or waiter.done()  # woken already (cancelled, say)
            or reader._buffer  # type: ignore[attr-defined]
            or not data
            or reading is None
            or reading.cancelling()
            or handler._server_event_lock.locked()
            or _BY_TASK in handler.__dict__
            or _a_writer_is_full(handler)
        ):
            to_buffer(data)
            return
        coro = handler.server_event(events.DataReceived(connection, data))
        try:
            waited_for = coro.send(None)
        except StopIteration:
            return
        except Exception:
            # mitmproxy's own server_event logs and survives what its layers raise; this is pixelguard's part of
            # it (proxy/inline_hooks.py). Read through the task, it ended the connection; so it does here, with
            # the reason in the log, rather than go on with a read its layers never had.
            log.exception("pixelguard: handling what a connection read failed; the connection is closed")
            reading.cancel("pixelguard: handling a read failed")
            return
        # server_event waited for something. With mitmproxy 11 it cannot: its lock is free (checked above) and it
        # has no other await. Should a later one add one, the rest of this event goes on in a task, and every
        # later read of this handler's connections through their tasks, as in mitmproxy (what they read before
        # that task ends may be handled before it: the one window in which this module could reorder anything).
        log.warning("pixelguard: handling what a connection read had to wait; its reads go through tasks now")
        handler.__dict__[_BY_TASK] = True
        task = asyncio.ensure_future(_Resumed(coro, waited_for))
        _resumed.add(task)
        task.add_done_callback(_resumed.discard)

    return feed_data


def _a_writer_is_full(handler: Any) -> bool:
    """Whether any of the handler's connections has more queued to send than its high-water mark (mitmproxy's task
    waits for those to drain before it reads on: the backpressure that keeps a slow reader from filling memory)."""
    for io in handler.transports.values():
        if getattr(getattr(io.writer, "_protocol", None), "_paused", False):
            return True
    return False


class _Resumed:
    """The rest of a coroutine that has already yielded ``waited_for``, to be awaited by a task."""

    def __init__(self, coro: Any, waited_for: Any):
        self.coro, self.waited_for = coro, waited_for

    def __await__(self) -> Any:
        waited_for = self.waited_for
        while True:
            try:
                sent = yield waited_for
            except BaseException as e:  # a cancellation, say: the coroutine's to handle
                try:
                    waited_for = self.coro.throw(e)
                except StopIteration as done:
                    return done.value
                continue
            try:
                waited_for = self.coro.send(sent)
            except StopIteration as done:
                return done.value
