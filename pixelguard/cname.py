"""CNAME chains: the names a host is an alias of, looked up with dnspython, cached by TTL, bounded in time.

Trackers hide behind first-party names (``metrics.shop.example`` CNAME ``shop.example.sc.omtrdc.net``); the
chain tells what the name really is. uBlock Origin uncloaks only on Firefox and turns it off behind a proxy,
so pixelguard does it for every client. Only canonical names of another site than the host's count (uBO's
default, cnameIgnore1stParty): a CDN alias within the site is not cloaking.

Fails open: a timeout, an error or no answer is an empty chain. Each lookup waits at most ``timeout`` seconds
and never holds up a request for another host (the proxy awaits it for this request only).
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from pixelguard.engine.request import domain_of

log = logging.getLogger(__name__)

MAX_CHAIN = 8  # CNAME chains this long are broken or hostile
CACHE_SIZE = 10_000
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
        host, _, rest = s[1:].partition("]")
        if rest:
            port = int(rest.lstrip(":"))
    elif s.count(":") == 1:
        host, p = s.split(":")
        port = int(p)
    ipaddress.ip_address(host)  # ValueError for a name: nameservers are addresses
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return host, port


class Resolver:
    def __init__(self, nameservers: tuple[str, ...] = (), timeout: float = 1.0):
        self.timeout = timeout
        self._cache: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()
        self._async = dns.asyncresolver.Resolver(configure=not nameservers)
        self._sync = dns.resolver.Resolver(configure=not nameservers)
        for r in (self._async, self._sync):
            if nameservers:
                parsed = [parse_nameserver(n) for n in nameservers]
                r.nameservers = [ip for ip, _ in parsed]
                r.nameserver_ports = {ip: port for ip, port in parsed}
            r.lifetime = timeout
            r.timeout = timeout
            r.cache = None  # our cache keeps chains, by the shortest TTL in them

    def cached(self, host: str) -> tuple[str, ...] | None:
        hit = self._cache.get(host)
        if hit is None:
            return None
        expires, chain = hit
        if expires < time.monotonic():
            del self._cache[host]
            return None
        return chain

    async def chain(self, host: str) -> tuple[str, ...]:
        """The canonical names of host that belong to other sites, nearest first (empty when none)."""
        found = self.cached(host)
        if found is not None:
            return found
        try:
            answer = await self._async.resolve(host, "A", raise_on_no_answer=False, lifetime=self.timeout)
            names, ttl = _names(host, answer)
        except (dns.exception.DNSException, OSError, ValueError) as e:
            log.debug("cname: %s: %s", host, e)
            names, ttl = (), NEGATIVE_TTL
        return self._store(host, names, ttl)

    def chain_sync(self, host: str) -> tuple[str, ...]:
        """The same, blocking (for ``pixelguard check``)."""
        found = self.cached(host)
        if found is not None:
            return found
        try:
            answer = self._sync.resolve(host, "A", raise_on_no_answer=False, lifetime=self.timeout)
            names, ttl = _names(host, answer)
        except (dns.exception.DNSException, OSError, ValueError):
            names, ttl = (), NEGATIVE_TTL
        return self._store(host, names, ttl)

    def _store(self, host: str, names: tuple[str, ...], ttl: float) -> tuple[str, ...]:
        self._cache[host] = (time.monotonic() + min(max(ttl, MIN_TTL), MAX_TTL), names)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return names


def _names(host: str, answer: dns.resolver.Answer) -> tuple[tuple[str, ...], float]:
    """Walk the CNAME records of the answer from host; keep the names of other sites."""
    cnames: dict[str, tuple[str, int]] = {}
    for rrset in answer.response.answer:
        if rrset.rdtype == dns.rdatatype.CNAME:
            owner = rrset.name.to_text().rstrip(".").lower()
            cnames[owner] = (rrset[0].target.to_text().rstrip(".").lower(), rrset.ttl)
    out: list[str] = []
    ttl = float(MAX_TTL)
    site = domain_of(host)
    name = host.lower()
    for _ in range(MAX_CHAIN):
        nxt = cnames.get(name)
        if nxt is None:
            break
        name, rr_ttl = nxt
        ttl = min(ttl, rr_ttl)
        if domain_of(name) != site:
            out.append(name)
    return tuple(out), ttl if out else float(NEGATIVE_TTL)
