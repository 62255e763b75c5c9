"""One event's or one step's writes to a connection go out as one send (proxy/corked_writes.py), over a real TCP
connection on 127.0.0.1: nothing lost, nothing reordered, nothing held past the event's end or the step. Every
end-to-end proxy test runs with it too."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from pixelguard.proxy.corked_writes import cork_stream_writes, send_kept


@pytest.fixture(autouse=True)
def corked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("write", "close", "write_eof"):
        monkeypatch.setattr(asyncio.StreamWriter, name, getattr(asyncio.StreamWriter, name))
    monkeypatch.delattr(asyncio.StreamWriter, "pixelguard_corked", raising=False)
    cork_stream_writes()
    cork_stream_writes()  # twice is once


def _talk(
    client: Callable[[asyncio.StreamWriter, list[bytes]], Awaitable[None]],
) -> tuple[list[bytes], bytes]:
    """Run ``client`` against a real server; returns what the client's transport was asked to send, one entry per
    send, and everything the server read up to the end of the stream."""

    async def main() -> tuple[list[bytes], bytes]:
        received = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.set_result(await reader.read())
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sends: list[bytes] = []
        transport_write = writer.transport.write

        def spy(data: bytes) -> None:
            sends.append(bytes(data))
            transport_write(data)

        writer.transport.write = spy  # type: ignore[method-assign]
        await client(writer, sends)
        got = await asyncio.wait_for(received, 10)
        server.close()
        await server.wait_closed()
        return sends, got

    return asyncio.run(main())


def test_one_steps_writes_go_out_as_one_send() -> None:
    async def client(writer: asyncio.StreamWriter, sends: list[bytes]) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        writer.write(b"body")
        writer.write(b"")
        writer.write(b"!")
        assert sends == []  # kept until the step ends
        await writer.drain()
        await asyncio.sleep(0)
        writer.close()

    sends, got = _talk(client)
    assert sends == [b"HTTP/1.1 200 OK\r\n\r\nbody!"]
    assert got == b"HTTP/1.1 200 OK\r\n\r\nbody!"


def test_writes_of_later_steps_are_sent_in_order_and_not_held() -> None:
    async def client(writer: asyncio.StreamWriter, sends: list[bytes]) -> None:
        for part in (b"one ", b"two ", b"three"):
            writer.write(part)
            await asyncio.sleep(0)
            assert sends[-1] == part  # sent once its step ended, not held for the next
        writer.close()

    sends, got = _talk(client)
    assert sends == [b"one ", b"two ", b"three"]
    assert got == b"one two three"


@pytest.mark.parametrize("end", ["close", "write_eof"])
def test_closing_in_the_same_step_sends_what_was_kept_first(end: str) -> None:
    async def client(writer: asyncio.StreamWriter, sends: list[bytes]) -> None:
        writer.write(b"last ")
        writer.write(b"words")
        getattr(writer, end)()
        await asyncio.sleep(0)  # the step's flush finds nothing left to send
        if end == "write_eof":
            writer.close()

    sends, got = _talk(client)
    assert sends == [b"last words"]
    assert got == b"last words"


def test_a_connection_closed_before_the_step_ends_is_sent_nothing_more() -> None:
    async def client(writer: asyncio.StreamWriter, sends: list[bytes]) -> None:
        writer.write(b"sent")
        await asyncio.sleep(0)
        writer.write(b"never")
        writer.transport.close()  # the transport itself, as a connection lost under it is
        await asyncio.sleep(0)

    sends, got = _talk(client)
    assert sends == [b"sent"]
    assert got == b"sent"


def test_a_buffer_changed_after_write_returns_is_sent_as_it_was_written() -> None:
    async def client(writer: asyncio.StreamWriter, sends: list[bytes]) -> None:
        buffer = bytearray(b"as written")
        writer.write(buffer)
        buffer[:] = b"changed!!!"  # asyncio lets a writer reuse its buffer once write returns
        await asyncio.sleep(0)
        writer.close()

    sends, got = _talk(client)
    assert sends == [b"as written"]
    assert got == b"as written"


def test_what_is_kept_is_sent_at_once_when_the_event_has_been_handled() -> None:
    # The proxy calls send_kept at the end of each connection's event (proxy/inline_hooks.py): what that event gave
    # each connection goes out then, as one send per connection, not a step later behind other callbacks.
    async def client(writer: asyncio.StreamWriter, sends: list[bytes]) -> None:
        writer.write(b"head ")
        writer.write(b"body")
        assert sends == []
        send_kept()
        assert sends == [b"head body"]  # before the loop has run anything else
        send_kept()  # nothing held: nothing sent
        await asyncio.sleep(0)  # the step's own flush finds nothing left either
        writer.write(b" more")
        await asyncio.sleep(0)  # a write no event's end sends still goes out in the next step
        writer.close()

    sends, got = _talk(client)
    assert sends == [b"head body", b" more"]
    assert got == b"head body more"


def test_a_writer_sent_by_its_own_step_is_not_held_on_to() -> None:
    # Where no event's end calls send_kept, each writer still leaves the list of those waiting when its step sends
    # it: the list holds connections, and must not grow with every write.
    from pixelguard.proxy import corked_writes

    async def client(writer: asyncio.StreamWriter, sends: list[bytes]) -> None:
        for part in (b"a", b"b", b"c"):
            writer.write(part)
            assert list(corked_writes._waiting.values()) == [writer]
            await asyncio.sleep(0)
            assert not corked_writes._waiting
        writer.close()

    sends, got = _talk(client)
    assert sends == [b"a", b"b", b"c"] and got == b"abc"
