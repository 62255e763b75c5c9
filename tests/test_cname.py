"""The CNAME resolver's waits: one lookup per host at a time, answers used past their TTL while a new one runs,
a bound on lookups under way, and no lookup for a name that cannot be an alias. Against a real DNS server on
127.0.0.1 (tests/dns_server.py), or a UDP socket that never answers."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from dns_server import DnsServer

from pixelguard import cname
from pixelguard.limits import CNAME_STALE_S

CHAINS = {"metrics.shop.test": "shop.test.sc.omtrdc.net", "px.news.test": "news.test.collect.example"}


@pytest.mark.parametrize(
    ("host", "worth"),
    [
        ("metrics.shop.example", True),
        ("www.bbc.co.uk", True),
        ("a.b.github.io", True),  # github.io is a private suffix: the ICANN apex is github.io
        ("shop.example", False),  # a registrable domain is a zone's apex: never an alias (RFC 1034 3.6.2)
        ("bbc.co.uk", False),
        ("github.io", False),
        ("co.uk", True),  # a public suffix is no registrable domain: asked, as before
        ("localhost", False),
        ("printer.local", False),
        ("intranet", False),
        ("192.0.2.1", False),
        ("2001:db8::1", False),
        ("", False),
    ],
)
def test_only_names_that_can_be_an_alias_are_looked_up(host: str, worth: bool) -> None:
    assert cname.worth_lookup(host) is worth


def test_requests_for_one_host_share_one_lookup() -> None:
    with DnsServer(CHAINS) as dns:
        r = cname.Resolver((f"127.0.0.1:{dns.port}",))

        async def main() -> list[tuple[str, ...]]:
            tasks = [r.lookup("metrics.shop.test") for _ in range(6)]
            assert all(t is tasks[0] for t in tasks)
            other = r.lookup("px.news.test")
            assert other is not tasks[0]
            return list(await asyncio.gather(*tasks, other))  # type: ignore[arg-type]

        got = asyncio.run(main())
        assert got == [("shop.test.sc.omtrdc.net",)] * 6 + [("news.test.collect.example",)]
        assert dns.asked.count("metrics.shop.test") == 1 and dns.asked.count("px.news.test") == 1
        assert r.fresh("metrics.shop.test") and not r._pending


def test_an_answer_past_its_ttl_is_used_while_a_new_lookup_runs() -> None:
    with DnsServer(CHAINS) as dns:
        r = cname.Resolver((f"127.0.0.1:{dns.port}",))
        host = "metrics.shop.test"
        assert r.cached(host) is None and not r.fresh(host)

        async def main() -> None:
            r.prefetch(host)
            await r.lookup(host)  # type: ignore[misc]
            assert r.fresh(host) and dns.asked.count(host) == 1
            r.prefetch(host)  # fresh: nothing asked
            assert not r._pending
            # The TTL ran out a second ago: the answer still stands, and a new lookup is due.
            r._cache[host] = (time.monotonic() - 1, r._cache[host][1])
            assert r.cached(host) == ("shop.test.sc.omtrdc.net",) and not r.fresh(host)
            r.prefetch(host)
            assert r._pending
            await r.lookup(host)  # type: ignore[misc]
            assert r.fresh(host) and dns.asked.count(host) == 2
            # Past the grace as well: not known any more.
            r._cache[host] = (time.monotonic() - CNAME_STALE_S - 1, r._cache[host][1])
            assert r.cached(host) is None and host not in r._cache

        asyncio.run(main())


def test_lookups_under_way_are_bounded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a nameserver that never answers
    silent.bind(("127.0.0.1", 0))
    monkeypatch.setattr(cname, "CNAME_IN_FLIGHT", 3)
    try:
        r = cname.Resolver((f"127.0.0.1:{silent.getsockname()[1]}",), timeout=0.2)

        async def main() -> None:
            tasks = [r.lookup(f"h{i}.site.test") for i in range(3)]
            assert all(tasks)
            assert r.lookup("h3.site.test") is None  # judged without a chain, as an unanswered lookup is
            r.prefetch("h4.site.test")  # nor is a prefetch started
            said = [m for m in caplog.messages if "CNAME lookups under way" in m]
            assert len(said) == 1, said  # said once, not once per request
            assert len(r._pending) == 3
            assert await asyncio.gather(*tasks) == [(), (), ()]  # type: ignore[arg-type]
            assert not r._pending and r.fresh("h0.site.test")  # negative answers are cached too
            assert r.lookup("h3.site.test") is not None

        asyncio.run(main())
    finally:
        silent.close()


def test_a_page_load_never_waits_for_a_lookup_and_starts_the_one_its_requests_use() -> None:
    """The proxy's choice (decider.py): a request whose host's chain is unknown waits for it, a page load does
    not (it is not judged by its host's aliases), a known chain past its TTL is used while it is asked again."""
    from types import SimpleNamespace

    from pixelguard.decision.decision import PASSED
    from pixelguard.decision.request_model import RequestModel
    from pixelguard.proxy.decider import RequestDecider
    from pixelguard.proxy.flow_note import FlowNote

    def note(url: str, dest: str) -> FlowNote:
        host = url.split("/")[2]
        return FlowNote(RequestModel.build(url, host, "GET", {"sec-fetch-dest": dest}), PASSED)

    with DnsServer(CHAINS) as dns:
        r = cname.Resolver((f"127.0.0.1:{dns.port}",))
        decider = RequestDecider(SimpleNamespace(resolver=r))  # type: ignore[arg-type]

        async def main() -> None:
            assert decider._lookup_due(note("https://metrics.shop.test/b/ss/1", "image"))
            assert not r._pending  # the request's own hook starts the lookup it waits for
            assert not decider._lookup_due(note("https://px.news.test/", "document"))
            assert list(r._pending) == ["px.news.test"]
            await r.lookup("px.news.test")  # type: ignore[misc]
            r._cache["px.news.test"] = (time.monotonic() - 1, r._cache["px.news.test"][1])
            assert not decider._lookup_due(note("https://px.news.test/p.gif", "image"))  # judged by the last
            assert list(r._pending) == ["px.news.test"]
            await r.lookup("px.news.test")  # type: ignore[misc]
            assert dns.asked.count("px.news.test") == 2
            assert not decider._lookup_due(note("https://shop.test/p.gif", "image"))  # an apex: no alias

        asyncio.run(main())


def test_a_lookup_that_fails_unexpectedly_is_logged_once_and_ends(caplog: pytest.LogCaptureFixture) -> None:
    r = cname.Resolver(("127.0.0.1:9",))

    async def broken(host: str) -> tuple[str, ...]:
        raise RuntimeError("bug\x1b[2J")

    r._ask = broken  # type: ignore[method-assign]

    async def main() -> None:
        r.prefetch("m.evil\x1b[31m.test")  # nobody awaits a prefetch: its failure is retrieved and logged
        task = r._pending["m.evil\x1b[31m.test"]
        await asyncio.wait([task])  # returns after the resolver's own done callback, registered first, ran
        assert not r._pending

    asyncio.run(main())
    said = [m for m in caplog.messages if "CNAME lookup for" in m]
    assert len(said) == 1 and "\x1b" not in said[0] and "\\x1b" in said[0], said
