"""A server's addresses are looked up once a minute, shared by the lookups that overlap, never kept from a failure
or past a failed connection (proxy/address_cache.py), and asyncio's connections go through it."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from typing import Any

import pytest

from pixelguard.proxy.address_cache import MAX_HOSTS, TTL_S, AddressCache, cache_addresses


class Resolver:
    """getaddrinfo's stand-in: counts what it is asked, answers per host, can be held or made to fail."""

    def __init__(self) -> None:
        self.asked: Counter[Any] = Counter()
        self.failing: set[str] = set()
        self.gate: asyncio.Event | None = None
        self.moved: dict[str, str] = {}
        self.options: dict[str, int] = {}

    async def __call__(self, host: str, port: int, **options: int) -> list[Any]:
        self.asked[host] += 1
        self.options = options
        if self.gate is not None:
            await self.gate.wait()
        if host in self.failing:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = self.moved.get(host, "192.0.2.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_an_answer_is_kept_for_a_minute_then_asked_again() -> None:
    resolver, clock = Resolver(), Clock()
    cache = AddressCache(resolver, clock=clock)

    async def go() -> None:
        first = await cache.getaddrinfo("a.example", 443, type=socket.SOCK_STREAM)
        clock.now += TTL_S - 0.5
        resolver.moved["a.example"] = "192.0.2.9"
        assert await cache.getaddrinfo("a.example", 443, type=socket.SOCK_STREAM) == first
        assert resolver.asked["a.example"] == 1
        clock.now += 0.5  # exactly a minute on: no longer kept
        again = await cache.getaddrinfo("a.example", 443, type=socket.SOCK_STREAM)
        assert resolver.asked["a.example"] == 2
        assert again[0][4] == ("192.0.2.9", 443)  # the new answer, kept from now on
        assert await cache.getaddrinfo("a.example", 443, type=socket.SOCK_STREAM) == again
        assert resolver.asked["a.example"] == 2

    run(go())
    assert TTL_S == 60  # Chromium's kCacheEntryTTLSeconds and Firefox's network.dnsCacheExpiration


def test_another_port_or_family_is_another_question() -> None:
    resolver = Resolver()
    cache = AddressCache(resolver)

    async def go() -> None:
        https = await cache.getaddrinfo("a.example", 443)
        assert resolver.options == {"family": 0, "type": 0, "proto": 0, "flags": 0}  # getaddrinfo's defaults
        http = await cache.getaddrinfo("a.example", 80)
        assert https[0][4][1] == 443 and http[0][4][1] == 80
        asked = {
            "family": socket.AF_INET6,
            "type": socket.SOCK_STREAM,
            "proto": 6,
            "flags": socket.AI_ADDRCONFIG,
        }
        await cache.getaddrinfo("a.example", 443, **asked)
        assert resolver.options == asked  # passed on as asked
        assert resolver.asked["a.example"] == 3
        await cache.getaddrinfo("a.example", 80)
        assert resolver.asked["a.example"] == 3
        assert len(cache) == 1  # one host, three answers

    run(go())


def test_lookups_that_overlap_share_one_and_a_caller_that_leaves_does_not_cancel_it() -> None:
    resolver = Resolver()
    cache = AddressCache(resolver)

    async def go() -> None:
        resolver.gate = asyncio.Event()
        waiting = [asyncio.ensure_future(cache.getaddrinfo("a.example", 443)) for _ in range(10)]
        await asyncio.sleep(0)
        waiting[0].cancel()  # a client that left while its connection waited for the name
        await asyncio.sleep(0)
        resolver.gate.set()
        answers = await asyncio.gather(*waiting[1:])
        assert resolver.asked["a.example"] == 1 and cache.lookups == 1
        assert all(a == answers[0] for a in answers)
        assert waiting[0].cancelled()
        # Each caller gets its own list: asyncio may not change it, but one caller's change would not reach another.
        answers[0].clear()
        assert await cache.getaddrinfo("a.example", 443) == answers[1]

    run(go())


def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    resolver = Resolver()
    cache = AddressCache(resolver)

    async def go() -> None:
        errors: list[Any] = []  # what the loop reports: a failure must not raise in the cache's callback
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        resolver.failing.add("gone.example")
        resolver.gate = asyncio.Event()
        waiting = [asyncio.ensure_future(cache.getaddrinfo("gone.example", 443)) for _ in range(3)]
        await asyncio.sleep(0)
        resolver.gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, socket.gaierror) for r in results)
        assert resolver.asked["gone.example"] == 1
        await asyncio.sleep(0)
        assert errors == []
        resolver.failing.clear()  # the name exists now: the next connection finds it
        assert (await cache.getaddrinfo("gone.example", 443))[0][4] == ("192.0.2.1", 443)
        assert resolver.asked["gone.example"] == 2
        assert len(cache) == 1

    run(go())


def test_a_failed_connection_drops_its_hosts_answers() -> None:
    resolver = Resolver()
    cache = AddressCache(resolver)

    class Server:
        address = ("a.example", 443)

    class Data:
        server = Server()

    async def go() -> None:
        await cache.getaddrinfo("a.example", 443)
        await cache.getaddrinfo("a.example", 80)
        await cache.getaddrinfo("b.example", 443)
        resolver.moved["a.example"] = "192.0.2.7"  # the server moved; the kept address no longer answers
        cache.server_connect_error(Data())  # as mitmproxy calls it
        assert (await cache.getaddrinfo("a.example", 443))[0][4] == ("192.0.2.7", 443)
        await cache.getaddrinfo("a.example", 80)
        await cache.getaddrinfo("b.example", 443)
        assert resolver.asked == Counter({"a.example": 4, "b.example": 1})
        cache.forget("nobody.example")  # nothing kept: nothing to drop
        Server.address = None  # type: ignore[assignment]
        cache.server_connect_error(Data())  # a connection with no address yet is no failure of a host
        assert len(cache) == 2

    run(go())


def test_the_hosts_used_least_recently_are_dropped_past_the_bound() -> None:
    resolver = Resolver()
    cache = AddressCache(resolver, max_hosts=3)

    async def go() -> None:
        for host in ("a", "b", "c"):
            await cache.getaddrinfo(host, 443)
        await cache.getaddrinfo("a", 443)  # a used again: b is now the one used least recently
        await cache.getaddrinfo("d", 443)
        assert len(cache) == 3
        for host in ("a", "c", "d"):
            await cache.getaddrinfo(host, 443)
        assert resolver.asked == Counter({"a": 1, "b": 1, "c": 1, "d": 1})
        await cache.getaddrinfo("b", 443)
        assert resolver.asked["b"] == 2

    run(go())
    assert MAX_HOSTS == 1000  # Chromium's host cache size (kDefaultCacheSize)


def test_asyncio_connections_on_the_loop_go_through_the_cache() -> None:
    """What mitmproxy does to reach a server, asyncio.open_connection(host, port), asks the cache: a name is
    looked up once for two connections, and an IP address not at all."""

    async def go() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hi")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        asked: list[Any] = []
        system = loop.getaddrinfo

        async def counted(host: Any, *args: Any, **kwargs: Any) -> Any:
            asked.append(host)
            return await system(host, *args, **kwargs)

        loop.getaddrinfo = counted  # type: ignore[method-assign]
        cache = cache_addresses(loop)
        assert cache_addresses(loop) is cache  # once per loop
        for host in ("localhost", "localhost", "127.0.0.1"):
            reader, writer = await asyncio.open_connection(host, port)
            assert await reader.read() == b"hi"
            writer.close()
        assert asked == ["localhost"]
        assert cache.lookups == 1
        server.close()
        await server.wait_closed()

    run(go())


@pytest.mark.parametrize("host", ["", "a" * 300, "bad host\n", "xn--"])
def test_a_name_the_resolver_refuses_fails_each_time_without_being_kept(host: str) -> None:
    async def refuse(host: str, port: int, **options: int) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    cache = AddressCache(refuse)
    for _ in range(2):
        with pytest.raises(socket.gaierror):
            run(cache.getaddrinfo(host, 443))
    assert len(cache) == 0 and cache.lookups == 2
