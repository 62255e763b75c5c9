"""proxy/direct_reads.py's own parts, on a real asyncio reader: when bytes go to the layers at once and when they go
to the task, and the rest of an event that waited (which mitmproxy's server_event never does) still handled, in
order. The whole path, through a real proxy: tests/e2e/test_inline_hooks.py and test_proxy_hostile.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from pixelguard.proxy.direct_reads import _feeder, _Resumed


class _Handler:
    """What the feeder uses of mitmproxy's ConnectionHandler: server_event, its lock, the transports."""

    def __init__(self, wait_for: asyncio.Future[None] | None = None):
        self._server_event_lock = asyncio.Lock()
        self.transports: dict[str, Any] = {}
        self.handled: list[bytes] = []
        self.wait_for = wait_for

    async def server_event(self, event: Any) -> None:
        if self.wait_for is not None and not self.wait_for.done():
            await self.wait_for
        self.handled.append(event.data)


async def _parked(reader: asyncio.StreamReader) -> tuple[asyncio.Task[bytes], SimpleNamespace]:
    task = asyncio.ensure_future(reader.read(100))
    while reader._waiter is None:  # type: ignore[attr-defined]  # until the task is parked in read
        await asyncio.sleep(0)
    return task, SimpleNamespace(handler=task, writer=None, reader=reader)


def test_bytes_go_to_the_layers_at_once_while_the_task_waits_with_nothing_buffered() -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        handler = _Handler()
        task, io = await _parked(reader)
        feed = _feeder(handler, "conn", io, reader)
        feed(b"one")
        feed(b"two")
        assert handler.handled == [b"one", b"two"] and not reader._buffer  # type: ignore[attr-defined]
        task.cancel()

    asyncio.run(run())


def test_bytes_go_to_the_task_when_it_is_not_parked_or_is_being_cancelled() -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        handler = _Handler()
        io = SimpleNamespace(handler=None, writer=None)
        feed = _feeder(handler, "conn", io, reader)
        feed(b"before")  # no task reading yet: buffered, as asyncio would
        assert handler.handled == [] and await reader.read(100) == b"before"
        task, io2 = await _parked(reader)
        feed = _feeder(handler, "conn", io2, reader)
        task.cancel()
        feed(b"late")  # the connection is being closed: the task's, not the layers'
        assert handler.handled == []

    asyncio.run(run())


def test_a_full_writer_sends_bytes_to_the_task_which_drains_first() -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        handler = _Handler()
        task, io = await _parked(reader)
        full = SimpleNamespace(_protocol=SimpleNamespace(_paused=True))
        handler.transports = {"client": SimpleNamespace(writer=full)}
        _feeder(handler, "conn", io, reader)(b"held back")
        assert handler.handled == [] and await task == b"held back"

    asyncio.run(run())


def test_an_event_that_waits_is_finished_in_a_task_with_nothing_lost() -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        handler = _Handler(wait_for=gate)
        task, io = await _parked(reader)
        _feeder(handler, "conn", io, reader)(b"waited")
        assert handler.handled == []
        gate.set_result(None)
        for _ in range(10):
            await asyncio.sleep(0)
        assert handler.handled == [b"waited"]
        _feeder(handler, "conn", io, reader)(b"after")  # from then on this handler's reads go to their tasks
        assert handler.handled == [b"waited"] and await task == b"after"

    asyncio.run(run())


def test_an_event_that_fails_closes_its_connection_rather_than_lose_the_read() -> None:
    class Failing(_Handler):
        async def server_event(self, event: Any) -> None:
            raise RuntimeError("a handler's bug")

    async def run() -> None:
        reader = asyncio.StreamReader()
        task, io = await _parked(reader)
        _feeder(Failing(), "conn", io, reader)(b"lost?")
        await asyncio.sleep(0)
        assert task.cancelled()

    asyncio.run(run())


def test_resumed_passes_on_results_and_cancellation() -> None:
    async def inner(fut: asyncio.Future[int]) -> int:
        return await fut + 1

    async def run() -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        coro = inner(fut)
        first = coro.send(None)  # it waits for fut, as an event handled directly would have
        task = asyncio.ensure_future(_Resumed(coro, first))
        fut.set_result(41)
        assert await task == 42

        fut2: asyncio.Future[int] = loop.create_future()
        coro2 = inner(fut2)
        task2 = asyncio.ensure_future(_Resumed(coro2, coro2.send(None)))
        await asyncio.sleep(0)
        task2.cancel()
        try:
            await task2
        except asyncio.CancelledError:
            pass
        assert task2.cancelled() and fut2.cancelled()

    asyncio.run(run())
