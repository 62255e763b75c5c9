"""A name whose first address never answers is reached at its next one (proxy/happy_eyeballs.py), where asyncio
alone waits for TCP to give up on the first, on both loops the proxy runs on (proxy/event_loop.py). The address
that never answers is a listener on 127.0.0.1 whose accept queue is full: the kernel drops the SYNs that reach it,
as a black-holed route does."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from loops import LOOPS, Factory, run_on

from pixelguard.proxy.happy_eyeballs import ATTEMPT_DELAY_S, interleave, race_addresses


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
    """A loop's getaddrinfo that gives every name 127.0.0.1 at each of ``ports``, and an IP address itself
    (uvloop's sock_connect asks the loop for the address it connects to)."""

    async def getaddrinfo(host: str, port: int, **options: Any) -> list[Any]:
        if host == "127.0.0.1":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p)) for p in ports]

    return getaddrinfo


async def hello_server() -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hi")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_first_address_that_never_answers_gives_way_to_the_next(
    silent: Silent, loop_factory: Factory
) -> None:
    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        loop.getaddrinfo = addresses(silent.port, port)  # type: ignore[method-assign]
        if loop_factory is None:
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
        # Small writes go out at once, as on the connections the loop makes itself.
        assert writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        server.close()

    run_on(loop_factory, go())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_an_address_that_answers_is_used_at_once(silent: Silent, loop_factory: Factory) -> None:
    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        race_addresses(loop)
        loop.getaddrinfo = addresses(port, silent.port)  # type: ignore[method-assign]
        started = loop.time()
        reader, writer = await asyncio.wait_for(asyncio.open_connection("dual.example", 80), 30)
        assert writer.get_extra_info("peername")[1] == port and await reader.read() == b"hi"
        # The second address was never needed: no wait for it (the bound is what a loaded machine allows).
        assert loop.time() - started < 10 * ATTEMPT_DELAY_S
        writer.close()
        server.close()

    run_on(loop_factory, go())


def test_a_caller_that_asks_for_more_gets_the_loops_own_connection(silent: Silent) -> None:
    """A caller that sets its own delay (or None: one address after the other) gets what it asked for."""

    async def go() -> None:
        loop = asyncio.get_running_loop()
        race_addresses(loop)
        server, port = await hello_server()
        loop.getaddrinfo = addresses(silent.port, port)  # type: ignore[method-assign]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                loop.create_connection(asyncio.Protocol, "dual.example", 80, happy_eyeballs_delay=None),
                2 * ATTEMPT_DELAY_S + 0.5,
            )
        server.close()

    asyncio.run(go())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_when_no_address_answers_the_error_says_so(loop_factory: Factory) -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        race_addresses(loop)
        refused = []
        for _ in range(2):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
            refused.append(s)
        ports = [s.getsockname()[1] for s in refused]
        loop.getaddrinfo = addresses(*ports)  # type: ignore[method-assign]
        with pytest.raises(OSError, match=r"Multiple exceptions: .*Connect call failed") as both:
            await asyncio.wait_for(asyncio.open_connection("gone.example", 80), 30)
        assert all(str(p) in str(both.value) for p in ports)  # each address's own error
        loop.getaddrinfo = addresses(ports[0])  # type: ignore[method-assign]
        with pytest.raises(ConnectionRefusedError, match=rf"Connect call failed.*{ports[0]}"):
            await asyncio.wait_for(asyncio.open_connection("one.example", 80), 30)
        loop.getaddrinfo = addresses()  # type: ignore[method-assign]
        with pytest.raises(OSError, match="getaddrinfo"):
            await asyncio.wait_for(asyncio.open_connection("none.example", 80), 30)
        for s in refused:
            s.close()

    run_on(loop_factory, go())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_name_is_connected_here_and_an_ip_address_by_the_loop(
    silent: Silent, loop_factory: Factory
) -> None:
    """A name is connected to the addresses the loop's getaddrinfo gives (uvloop's create_connection would look
    it up again itself); an IP address, and a caller's local address, go to the loop's create_connection."""

    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        asked: list[Any] = []
        create = loop.create_connection

        async def seen(*args: Any, **kwargs: Any) -> Any:
            asked.append(args[1] if len(args) > 1 else kwargs.get("host"))
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
        assert asked == ["127.0.0.1", None, None]  # the names' connections come as connected sockets
        assert [h for h in looked_up if h != "127.0.0.1"] == ["one.example", "two.example"]
        transport, _ = await asyncio.wait_for(
            loop.create_connection(asyncio.Protocol, "localhost", port, local_addr=("127.0.0.1", 0)), 30
        )
        transport.close()
        assert asked[-1] == "localhost"
        server.close()

    run_on(loop_factory, go())


def test_addresses_are_tried_with_the_families_taking_turns() -> None:
    def info(family: int, n: int) -> Any:
        return (family, socket.SOCK_STREAM, 6, "", (f"{family}-{n}", 443))

    v6, v4 = socket.AF_INET6, socket.AF_INET
    found = [info(v6, 1), info(v6, 2), info(v6, 3), info(v4, 1)]
    assert interleave(found) == [info(v6, 1), info(v4, 1), info(v6, 2), info(v6, 3)]
    assert interleave([info(v4, 1), info(v6, 1), info(v4, 2)]) == [info(v4, 1), info(v6, 1), info(v4, 2)]
    assert interleave([info(v4, 1), info(v4, 2)]) == [info(v4, 1), info(v4, 2)]


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_the_race_looks_a_name_up_once_with_the_address_cache(silent: Silent, loop_factory: Factory) -> None:
    """The race asks the loop for a name's addresses, and with the cache installed (as `serve` installs it) that
    is the cache: a connection costs one lookup, on either loop."""
    from pixelguard.proxy.address_cache import cache_addresses

    async def go() -> None:
        server, port = await hello_server()
        loop = asyncio.get_running_loop()
        asked: list[tuple[Any, ...]] = []
        two = addresses(silent.port, port)

        async def resolver(host: str, port: int, **options: Any) -> Any:
            asked.append((host, port, tuple(sorted(options.items()))))
            return await two(host, port, **options)

        cache = cache_addresses(loop)
        cache._resolve = resolver  # the system's resolver has no such names
        race_addresses(loop)
        reader, writer = await asyncio.wait_for(asyncio.open_connection("two.example", 8443), 30)
        assert await reader.read() == b"hi" and writer.get_extra_info("peername")[1] == port
        writer.close()
        opts = (("family", 0), ("flags", 0), ("proto", 0), ("type", socket.SOCK_STREAM))
        assert asked == [("two.example", 8443, opts)]
        # A caller's own family, protocol and flags: the race asks with them.
        given = {"family": socket.AF_INET, "proto": 6, "flags": socket.AI_ADDRCONFIG}
        transport, _ = await asyncio.wait_for(
            loop.create_connection(asyncio.Protocol, "three.example", 8443, **given), 30
        )
        transport.close()
        assert asked[1:] == [
            ("three.example", 8443, tuple(sorted({**given, "type": socket.SOCK_STREAM}.items())))
        ]
        assert cache.lookups == 2
        server.close()

    run_on(loop_factory, go())
