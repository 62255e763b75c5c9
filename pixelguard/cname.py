"""CNAME chains: the names a host is an alias of, asked of DNS with dnspython, cached by TTL, bounded in time.

Trackers hide behind first-party names (``metrics.shop.example`` CNAME ``shop.example.sc.omtrdc.net``); the
chain tells what the name really is. uBlock Origin uncloaks only on Firefox and turns it off behind a proxy,
so pixelguard does it for every client. Only canonical names of another site than the host's count (uBO's
default, cnameIgnore1stParty): a CDN alias within the site is not cloaking.

The query goes to the nameservers directly and the chain is read from the answer's CNAME records, as deep as
``limits.MAX_CNAME_CHAIN``: a resolver library that gives up on a long chain (dnspython's own limit is 16) would
hand back nothing, and nothing would let the tracker at the end of a long chain through. A chain the resolver
cut short is judged on every name it holds.

Fails open on the network only: a timeout or no answer is an empty chain. Each lookup waits at most ``timeout``
seconds and never holds up a request for another host. What the proxy waits for, and when (decider.py):

- one lookup per host at a time: the requests that need a host's chain while it is asked all wait on that one;
- a chain whose TTL ran out is used for up to ``limits.CNAME_STALE_S`` more while a new lookup runs in the
  background, so a host already seen never makes a request wait again;
- lookups can start before a request needs them (``prefetch``: at CONNECT, and for a page's own host when the
  page loads), so the wait of the first request to a host is what is left of its lookup;
- names that cannot be an alias are never asked (``worth_lookup``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rdatatype
import dns.resolver

from pixelguard.display import safe
from pixelguard.dns_health import Watch
from pixelguard.engine.request import domain_of, host_info, normal_host
from pixelguard.limits import CNAME_CACHE, CNAME_IN_FLIGHT, CNAME_STALE_S, MAX_CNAME_CHAIN

log = logging.getLogger(__name__)

MIN_TTL, MAX_TTL = 30, 3600
NEGATIVE_TTL = 300


def enabled(cfg: object) -> bool:
    """cname.enabled in the config, unless PIXELGUARD_NO_CNAME=1 (the test suite's: tests make no DNS queries
    except to the DNS servers they start themselves)."""
    return (
        bool(getattr(getattr(cfg, "cname", None), "enabled", False)) and os.environ.get(NO_CNAME_ENV) != "1"
    )


NO_CNAME_ENV = "PIXELGUARD_NO_CNAME"


def parse_nameserver(text: str) -> tuple[str, int]:
    """'IP' or 'IP:PORT' (IPv6 as [IP]:PORT) → (ip, port); ValueError naming what is wrong."""
    import ipaddress

    s = text.strip()
    host, port = s, 53
    if s.startswith("["):
        host, bracket, rest = s[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError('an IPv6 address with a port is written "[IP]:PORT"')
        if rest:
            port = int(rest[1:])
    elif s.count(":") == 1:
        host, p = s.split(":")
        port = int(p)
    ipaddress.ip_address(host)  # ValueError for a name: nameservers are addresses
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return host, port


def servers_in_use(nameservers: tuple[str, ...]) -> list[tuple[str, int]]:
    """The (ip, port) pairs to ask: the configured ones (cname.nameservers), else the system's (/etc/resolv.conf),
    else none."""
    if nameservers:
        return [parse_nameserver(n) for n in nameservers]
    try:
        system = dns.resolver.Resolver(configure=True)
    except (dns.exception.DNSException, OSError):
        return []
    return [(str(ip), system.port) for ip in system.nameservers]


class Resolver:
    def __init__(self, nameservers: tuple[str, ...] = (), timeout: float = 1.0):
        self.timeout = timeout
        # host -> (when its TTL ends, its chain); kept CNAME_STALE_S past that end (see cached)
        self._cache: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()
        self._pending: dict[str, asyncio.Task[tuple[str, ...]]] = {}  # host -> its lookup under way
        self._full = False  # the bound on lookups under way was met (logged once until a lookup starts again)
        self.unanswered = 0  # lookups no nameserver answered (judged without a chain): `check` says so
        # The proxy's (not check's): says in the data dir when DNS stops answering, for the UI's header.
        self.watch: Watch | None = None
        self.servers = servers_in_use(nameservers)

    def cached(self, host: str) -> tuple[str, ...] | None:
        """host's chain to judge by now (None: not known): its last answer, even for up to CNAME_STALE_S after
        its TTL ended (``fresh`` tells; the proxy then asks again in the background)."""
        hit = self._cache.get(host)
        if hit is None:
            return None
        expires, chain = hit
        if expires + CNAME_STALE_S < time.monotonic():
            del self._cache[host]
            return None
        return chain

    def fresh(self, host: str) -> bool:
        """Is host's chain known and within its TTL?"""
        hit = self._cache.get(host)
        return hit is not None and hit[0] >= time.monotonic()

    def lookup(self, host: str) -> asyncio.Task[tuple[str, ...]] | None:
        """The lookup of host under way, started if there is none (on the running event loop): every request
        that needs host's chain meanwhile waits on this one. None when CNAME_IN_FLIGHT lookups are already under
        way: the request is then judged without a chain, as when DNS does not answer."""
        task = self._pending.get(host)
        if task is not None:
            return task
        if len(self._pending) >= CNAME_IN_FLIGHT:
            if not self._full:  # once per flood, not once per request
                self._full = True
                log.warning(
                    "pixelguard: %d CNAME lookups under way; new names are judged without their aliases until "
                    "some answer",
                    CNAME_IN_FLIGHT,
                )
            return None
        self._full = False
        task = asyncio.get_running_loop().create_task(self._ask(host))
        self._pending[host] = task
        task.add_done_callback(lambda t: self._done(host, t))
        return task

    def prefetch(self, host: str) -> None:
        """Start host's lookup now, unless its chain is fresh or a lookup is under way: a request that comes
        later finds the answer, or less of the wait."""
        if worth_lookup(host) and not self.fresh(host):
            self.lookup(host)

    def _done(self, host: str, task: asyncio.Task[tuple[str, ...]]) -> None:
        if self._pending.get(host) is task:
            del self._pending[host]
        if not task.cancelled() and task.exception() is not None:  # retrieved here: a prefetch has no awaiter
            log.warning(
                "pixelguard: CNAME lookup for %s failed: %s", safe(host), safe(repr(task.exception()))
            )

    async def _ask(self, host: str) -> tuple[str, ...]:
        """Ask DNS for host's chain now and remember the answer.

        The nameservers are asked in turn, each with an equal share of what is left of ``timeout``: a first one
        that never answers (a VPN's resolver after the VPN went down) would otherwise take the whole budget, and
        every lookup would fail without the second ever being asked. The one that answers is asked first from
        then on, so a dead one costs its share once, not on every lookup."""
        query = dns.message.make_query(host, "A")
        deadline = time.monotonic() + self.timeout
        servers = list(self.servers)  # other lookups may reorder self.servers meanwhile
        for i, (ip, port) in enumerate(servers):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                response = await dns.asyncquery.udp(query, ip, timeout=left / (len(servers) - i), port=port)
                if response.flags & dns.flags.TC:
                    response = await dns.asyncquery.tcp(
                        query, ip, timeout=max(0.05, deadline - time.monotonic()), port=port
                    )
            except (dns.exception.DNSException, OSError, ValueError) as e:
                log.debug("cname: %s via %s: %s", host, ip, e)
                continue
            if self.servers[0] != (ip, port):
                self.servers.remove((ip, port))
                self.servers.insert(0, (ip, port))
            if self.watch is not None:
                self.watch.answered()
            return self._store(host, *_names(host, response))
        self.unanswered += 1
        if self.watch is not None:
            self.watch.unanswered()
        return self._store(host, (), NEGATIVE_TTL)

    def chain_sync(self, host: str) -> tuple[str, ...]:
        """The canonical names of host that belong to other sites, nearest first (empty when none): the fresh
        answer, else asked now, blocking (for ``pixelguard check``, which runs no event loop of its own)."""
        if self.fresh(host):
            return self._cache[host][1]
        return asyncio.run(self._ask(host))

    def _store(self, host: str, names: tuple[str, ...], ttl: float) -> tuple[str, ...]:
        self._cache.pop(host, None)  # a refreshed host goes to the end: the oldest answer is dropped first
        self._cache[host] = (time.monotonic() + min(max(ttl, MIN_TTL), MAX_TTL), names)
        if len(self._cache) > CNAME_CACHE:
            self._cache.popitem(last=False)
        return names


PROBE_NAME = "pixelguard-check.invalid"  # RFC 6761: a resolver answers NXDOMAIN itself and asks no one


def unanswering(servers: list[tuple[str, int]], timeout: float = 1.0) -> list[tuple[tuple[str, int], str]]:
    """The nameservers that do not answer a query within timeout, each with why (for ``doctor``). The name asked
    is under .invalid: it tells a resolver nothing of what the user visits, and a working one answers it at
    once."""
    import dns.query

    query = dns.message.make_query(PROBE_NAME, "A")
    out = []
    for ip, port in servers:
        try:
            dns.query.udp(query, ip, timeout=timeout, port=port)
        except dns.exception.Timeout:
            out.append(((ip, port), f"no answer in {timeout:g} s"))
        except (dns.exception.DNSException, OSError, ValueError) as e:
            out.append(((ip, port), safe(str(e) or type(e).__name__)))
    return out


def _names(host: str, response: dns.message.Message) -> tuple[tuple[str, ...], float]:
    """Walk the CNAME records of the response from host (at most MAX_CNAME_CHAIN hops, a loop ends the walk);
    keep the names of other sites. Whatever the response code: a chain the resolver cut is judged as it is."""
    cnames: dict[str, tuple[str, int]] = {}
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.CNAME:
            owner = normal_host(rrset.name.to_text())
            cnames[owner] = (normal_host(rrset[0].target.to_text()), rrset.ttl)
    out: list[str] = []
    ttl = float(MAX_TTL)
    site = domain_of(host)
    name = host.lower()
    visited = {name}
    for _ in range(MAX_CNAME_CHAIN):
        nxt = cnames.get(name)
        if nxt is None or nxt[0] in visited:
            break
        name, rr_ttl = nxt
        visited.add(name)
        ttl = min(ttl, rr_ttl)
        if domain_of(name) != site:
            out.append(name)
    return tuple(out), ttl if out else float(NEGATIVE_TTL)


def worth_lookup(host: str) -> bool:
    """Only names that can be an alias: not an address, not localhost, not a single label (never in DNS), and
    not a registrable domain (``shop.example``, ``bbc.co.uk``): a zone's apex holds its SOA and NS records, and a
    name with a CNAME can hold no other (RFC 1034 3.6.2, RFC 2181 10.1), so an apex is never an alias. Cloaking
    is done with a name under the site (``metrics.shop.example``)."""
    if not host or "." not in host or host == "localhost" or host.endswith((".localhost", ".local")):
        return False
    if ":" in host or host[-1].isdigit():  # only these can be addresses (no top-level domain ends in a digit)
        import ipaddress

        try:
            ipaddress.ip_address(host)
            return False
        except ValueError:
            pass
    return host_info(host)[0] != host  # memoised per host: asked for every request that passed
