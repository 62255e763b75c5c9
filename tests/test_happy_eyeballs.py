"""A name whose first address never answers is reached at its next one (proxy/happy_eyeballs.py), where asyncio
alone waits for TCP to give up on the first. The address that never answers is a listener on 127.0.0.1 whose
accept queue is full: the kernel drops the SYNs that reach it, as a black-holed route does."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from pixelguard.proxy.happy_eyeballs import ATTEMPT_DELAY_S, race_addresses


class Silent:
    """127.0.0.1:port that takes no connection and refuses none: its SYNs go unanswered."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(3):  # the queue holds one; the others wait on the SYNs the kernel drops
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)

    def close(self) -> None:
        for s in [*self.fillers, self.listener]:
            s.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    s = Silent()
    yield s
    s.close()


def addresses(*ports: int) -> Any:
    async def getaddrinfo(host: str, port: int, **options: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p)) for p in ports]

    return getaddrinfo


async def hello_server() -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hi")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_first_address_that_never_answers_gives_way_to_the_next(silent: Silent) -> None:
    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        loop.getaddrinfo = addresses(silent.port, port)  # type: ignore[method-assign]
        # Without the race, asyncio waits on the silent address (about two minutes: TCP's SYN retries).
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.open_connection("dual.example", 80), 2 * ATTEMPT_DELAY_S + 0.5)
        race_addresses(loop)
        raced = loop.create_connection
        race_addresses(loop)
        assert loop.create_connection is raced  # twice is once
        started = loop.time()
        reader, writer = await asyncio.wait_for(asyncio.open_connection("dual.example", 80), 30)
        assert await reader.read() == b"hi"
        assert writer.get_extra_info("peername")[1] == port
        assert loop.time() - started >= ATTEMPT_DELAY_S * 0.9  # the first address had its quarter second
        writer.close()
        server.close()

    asyncio.run(go())


def test_an_address_that_answers_is_used_and_a_caller_may_still_choose(silent: Silent) -> None:
    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        race_addresses(loop)
        loop.getaddrinfo = addresses(port, silent.port)  # type: ignore[method-assign]
        reader, writer = await asyncio.wait_for(asyncio.open_connection("dual.example", 80), 30)
        assert writer.get_extra_info("peername")[1] == port and await reader.read() == b"hi"
        writer.close()
        # A caller that sets its own delay (or None: one address after the other) gets what it asked for.
        loop.getaddrinfo = addresses(silent.port, port)  # type: ignore[method-assign]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                loop.create_connection(asyncio.Protocol, "dual.example", 80, happy_eyeballs_delay=None),
                2 * ATTEMPT_DELAY_S + 0.5,
            )
        server.close()

    asyncio.run(go())


def test_when_no_address_answers_the_error_says_so() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        race_addresses(loop)
        refused = []
        for _ in range(2):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
            refused.append(s)
        loop.getaddrinfo = addresses(*(s.getsockname()[1] for s in refused))  # type: ignore[method-assign]
        with pytest.raises(OSError, match="Connect call failed"):
            await asyncio.wait_for(asyncio.open_connection("gone.example", 80), 30)
        for s in refused:
            s.close()

    asyncio.run(go())


def test_only_a_name_with_more_than_one_address_is_raced(silent: Silent) -> None:
    """A race costs a few turns of the event loop even for one address: an IP address and a name with one address
    connect as before (asyncio is asked for the host); a raced one is handed its connected socket."""

    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        asked: list[Any] = []
        create = loop.create_connection

        async def seen(*args: Any, **kwargs: Any) -> Any:
            asked.append("sock" in kwargs)
            return await create(*args, **kwargs)

        loop.create_connection = seen  # type: ignore[method-assign]
        race_addresses(loop)
        one, two = addresses(port), addresses(silent.port, port)

        looked_up: list[Any] = []

        async def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
            looked_up.append(host)
            return await (two if host == "two.example" else one)(host, *args, **kwargs)

        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
        for host in ("127.0.0.1", "one.example", "two.example"):
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
            assert await reader.read() == b"hi"
            writer.close()
        assert asked == [False, False, True]
        assert "127.0.0.1" not in looked_up  # an address is never looked up
        server.close()

    asyncio.run(go())


def test_the_race_looks_a_name_up_once_with_the_address_cache(silent: Silent) -> None:
    """The race asks for a name's addresses before the connection does: with the cache installed first (as
    `serve` installs it) both get one answer, so a connection costs one lookup, not two."""
    from pixelguard.proxy.address_cache import cache_addresses

    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        asked: list[tuple[Any, ...]] = []
        two = addresses(silent.port, port)

        async def resolver(host: str, port: int, **options: Any) -> Any:
            asked.append((host, port, tuple(sorted(options.items()))))
            return await two(host, port, **options)

        loop.getaddrinfo = resolver  # type: ignore[method-assign]
        cache_addresses(loop)
        race_addresses(loop)
        reader, writer = await asyncio.wait_for(asyncio.open_connection("two.example", 8443), 30)
        assert await reader.read() == b"hi" and writer.get_extra_info("peername")[1] == port
        writer.close()
        opts = (("family", 0), ("flags", 0), ("proto", 0), ("type", socket.SOCK_STREAM))
        assert asked == [("two.example", 8443, opts)]
        # A caller's own family, protocol and flags: the race asks the same question the connection asks.
        given = {"family": socket.AF_INET, "proto": 6, "flags": socket.AI_ADDRCONFIG}
        transport, _ = await asyncio.wait_for(
            loop.create_connection(asyncio.Protocol, "three.example", 8443, **given), 30
        )
        transport.close()
        assert asked[1:] == [
            ("three.example", 8443, tuple(sorted({**given, "type": socket.SOCK_STREAM}.items())))
        ]
        server.close()

    asyncio.run(go())


@pytest.mark.skipif(
    not hasattr(asyncio, "eager_task_factory"),
    reason="eager tasks are Python 3.12's (mitmproxy 12 runs with them)",
)
def test_the_race_holds_under_the_eager_tasks_mitmproxy_12_runs_with(silent: Silent) -> None:
    """mitmproxy 12 sets the loop's task factory to asyncio's eager one. asyncio's own race fails under it (an
    AssertionError) in CPython 3.12.1 and 3.13.0, as it did for every raced connection through pixelguard."""

    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        race_addresses(loop)
        for ports in ((silent.port, port), (port, silent.port)):
            loop.getaddrinfo = addresses(*ports)  # type: ignore[method-assign]
            reader, writer = await asyncio.wait_for(asyncio.open_connection("dual.example", 80), 30)
            assert writer.get_extra_info("peername")[1] == port and await reader.read() == b"hi"
            writer.close()
        server.close()

    asyncio.run(go())
