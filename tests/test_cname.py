"""The CNAME resolver's waits: one lookup per host at a time, answers used past their TTL while a new one runs,
a bound on lookups under way, and no lookup for a name that cannot be an alias. Against a real DNS server on
127.0.0.1 (tests/dns_server.py), or a UDP socket that never answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import dns.message
import dns.resolver
import dns.rrset
import pytest
from dns_server import DnsServer

from pixelguard import cname, dns_health
from pixelguard.limits import CNAME_STALE_S, MAX_CNAME_CHAIN

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
        ("a.printer.local", False),  # mDNS names are not in DNS at all
        ("api.app.localhost", False),
        ("intranet", False),
        ("192.0.2.1", False),
        ("2001:db8::1", False),
        ("", False),
    ],
)
def test_only_names_that_can_be_an_alias_are_looked_up(host: str, worth: bool) -> None:
    assert cname.worth_lookup(host) is worth


def test_requests_for_one_host_share_one_lookup(caplog: pytest.LogCaptureFixture) -> None:
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
        assert not [m for m in caplog.messages if "CNAME lookup for" in m]  # an answer is no failure


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


def _response(host: str, *hops: tuple[str, str, int]) -> dns.message.Message:
    """A DNS answer for host holding the CNAME records hops (owner, target, TTL), as a resolver sends them."""
    response = dns.message.make_response(dns.message.make_query(host, "A"))
    for owner, target, ttl in hops:
        response.answer.append(dns.rrset.from_text(owner + ".", ttl, "IN", "CNAME", target + "."))
    return response


def test_a_chain_holds_the_names_of_other_sites_nearest_first_and_its_shortest_ttl() -> None:
    # uBO's cnameIgnore1stParty: an alias within the host's own site (a CDN name under it) is not cloaking, but
    # the walk goes on through it to the tracker behind.
    got = cname._names(
        "metrics.shop.test",
        _response(
            "metrics.shop.test",
            ("metrics.shop.test", "edge.shop.test", 900),
            ("edge.shop.test", "shop.test.sc.omtrdc.net", 120),
            ("shop.test.sc.omtrdc.net", "a1.edgekey.net", 600),
        ),
    )
    assert got == (("shop.test.sc.omtrdc.net", "a1.edgekey.net"), 120)


def test_a_chain_within_the_site_or_none_at_all_is_empty_and_kept_as_a_negative_answer() -> None:
    within = _response("www.shop.test", ("www.shop.test", "cdn.shop.test", 60))
    assert cname._names("www.shop.test", within) == ((), cname.NEGATIVE_TTL)
    assert cname._names("www.shop.test", _response("www.shop.test")) == ((), cname.NEGATIVE_TTL)


def test_a_looping_chain_ends_where_it_comes_back() -> None:
    loop = _response(
        "m.shop.test",
        ("m.shop.test", "x.tracker.test", 60),
        ("x.tracker.test", "m.shop.test", 60),
    )
    assert cname._names("m.shop.test", loop) == (("x.tracker.test",), 60)
    inner = _response(
        "m.shop.test",
        ("m.shop.test", "b.one.test", 60),
        ("b.one.test", "c.two.test", 60),
        ("c.two.test", "b.one.test", 60),
    )
    assert cname._names("m.shop.test", inner) == (("b.one.test", "c.two.test"), 60)


def test_a_chain_is_followed_at_most_max_cname_chain_hops() -> None:
    hops = [(f"h{i}.hop{i}.test" if i else "m.shop.test", f"h{i + 1}.hop{i + 1}.test", 60) for i in range(40)]
    names, _ = cname._names("m.shop.test", _response("m.shop.test", *hops))
    assert names == tuple(f"h{i}.hop{i}.test" for i in range(1, MAX_CNAME_CHAIN + 1))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("9.9.9.9", ("9.9.9.9", 53)),
        (" 9.9.9.9:5353 ", ("9.9.9.9", 5353)),
        ("9.9.9.9:1", ("9.9.9.9", 1)),
        ("9.9.9.9:65535", ("9.9.9.9", 65535)),
        ("2001:db8::53", ("2001:db8::53", 53)),  # IPv6 without brackets: every colon is the address's
        ("[2001:db8::53]", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
    ],
)
def test_nameservers_are_addresses_with_an_optional_port(text: str, parsed: tuple[str, int]) -> None:
    assert cname.parse_nameserver(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "dns.google",
        "9.9.9.9:0",
        "9.9.9.9:65536",
        "9.9.9.9:",
        "[2001:db8::53]:x",
        "[2001:db8::53",
        "[2001:db8::53]53",
        "",
    ],
)
def test_a_nameserver_that_is_no_address_and_port_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        cname.parse_nameserver(text)


@pytest.mark.parametrize(
    ("cfg", "env", "on"),
    [
        (SimpleNamespace(cname=SimpleNamespace(enabled=True)), None, True),
        (SimpleNamespace(cname=SimpleNamespace(enabled=True)), "0", True),
        (SimpleNamespace(cname=SimpleNamespace(enabled=True)), "1", False),  # the test suite's switch
        (SimpleNamespace(cname=SimpleNamespace(enabled=False)), None, False),
        (SimpleNamespace(cname=SimpleNamespace()), None, False),
        (SimpleNamespace(), None, False),
    ],
)
def test_uncloaking_is_on_as_the_config_says_unless_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, cfg: object, env: str | None, on: bool
) -> None:
    if env is None:
        monkeypatch.delenv(cname.NO_CNAME_ENV, raising=False)
    else:
        monkeypatch.setenv(cname.NO_CNAME_ENV, env)
    assert cname.enabled(cfg) is on


def test_without_nameservers_configured_the_systems_are_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    class System:
        nameservers = ("192.0.2.53", "2001:db8::53")
        port = 5300

        def __init__(self, configure: bool) -> None:
            assert configure  # read /etc/resolv.conf (or its equivalent)

    monkeypatch.setattr(cname.dns.resolver, "Resolver", System)
    assert cname.Resolver().servers == [("192.0.2.53", 5300), ("2001:db8::53", 5300)]

    def unreadable(configure: bool) -> None:
        raise dns.resolver.NoResolverConfiguration("no /etc/resolv.conf")

    monkeypatch.setattr(cname.dns.resolver, "Resolver", unreadable)
    r = cname.Resolver()  # no system resolver: every lookup is an empty chain, nothing crashes
    assert r.servers == [] and r.chain_sync("metrics.shop.test") == ()


def test_a_nameserver_that_never_answers_leaves_time_for_the_next_and_is_asked_last_from_then_on() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a resolver gone away with its VPN
    silent.bind(("127.0.0.1", 0))
    try:
        with DnsServer(CHAINS) as dns_server:
            dead, alive = f"127.0.0.1:{silent.getsockname()[1]}", f"127.0.0.1:{dns_server.port}"
            r = cname.Resolver((dead, alive), timeout=2.0)
            assert r.chain_sync("metrics.shop.test") == ("shop.test.sc.omtrdc.net",)
            assert r.servers[0] == ("127.0.0.1", dns_server.port)
            assert r.chain_sync("px.news.test") == ("news.test.collect.example",)
        silent.setblocking(False)
        queries = []
        with contextlib.suppress(BlockingIOError):
            while True:
                queries.append(silent.recv(512))
        assert len(queries) == 1  # the dead one was asked once: its share of the wait is not paid again
    finally:
        silent.close()


def test_check_asks_dns_only_for_a_chain_not_fresh() -> None:
    with DnsServer(CHAINS) as dns_server:
        r = cname.Resolver((f"127.0.0.1:{dns_server.port}",))
        assert r.chain_sync("metrics.shop.test") == ("shop.test.sc.omtrdc.net",)
        assert r.chain_sync("metrics.shop.test") == ("shop.test.sc.omtrdc.net",)
        assert dns_server.asked == ["metrics.shop.test"]


def test_an_answer_cut_for_udp_is_asked_again_over_tcp() -> None:
    # A long chain does not fit a datagram: the resolver sends the header alone with TC set, and the chain (with
    # the tracker at its end) only comes over TCP.
    with DnsServer(CHAINS, udp_limit=60) as dns_server:
        r = cname.Resolver((f"127.0.0.1:{dns_server.port}",))
        assert r.chain_sync("metrics.shop.test") == ("shop.test.sc.omtrdc.net",)
        assert dns_server.asked.count("metrics.shop.test") == 2  # once over UDP, once over TCP


def test_the_cache_drops_the_answer_used_least_recently_refreshed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cname, "CNAME_CACHE", 2)
    r = cname.Resolver(("127.0.0.1:9",))
    r._store("a.one.test", ("x.t.test",), 60)
    r._store("b.two.test", (), 60)
    r._store("a.one.test", ("y.t.test",), 60)  # asked again: now the newest
    r._store("c.three.test", (), 60)
    assert r.cached("b.two.test") is None
    assert r.cached("a.one.test") == ("y.t.test",) and r.cached("c.three.test") == ()


def test_the_proxy_says_when_dns_stops_answering_and_unsays_it_at_the_next_answer(tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        with DnsServer(CHAINS) as dns_server:
            r = cname.Resolver((f"127.0.0.1:{silent.getsockname()[1]}",), timeout=0.2)
            r.watch = dns_health.Watch(tmp_path)
            for i in range(dns_health.SILENT_AFTER):
                assert r.chain_sync(f"h{i}.site.test") == ()  # fails open
            assert r.unanswered == dns_health.SILENT_AFTER
            assert dns_health.silent_since(tmp_path) is not None  # the UI's header shows it
            r.servers = [("127.0.0.1", dns_server.port)]  # the network is back
            assert r.chain_sync("metrics.shop.test") == ("shop.test.sc.omtrdc.net",)
            assert dns_health.silent_since(tmp_path) is None
            assert not (tmp_path / dns_health.FILE).exists()
    finally:
        silent.close()
