"""A DNS server on 127.0.0.1 for the CNAME tests (dnslib): answers CNAME chains it is given, A 127.0.0.1 at the
end of each, and NXDOMAIN for anything else. Only ever asked by pixelguard, on loopback."""

from __future__ import annotations

from typing import Any

from dnslib import CNAME, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Resolver(BaseResolver):
    def __init__(self, cnames: dict[str, str], max_hops: int):
        self.max_hops = max_hops  # how far this resolver follows a chain before giving up (a cut chain)
        self.cnames = {k.lower().rstrip("."): v.lower().rstrip(".") for k, v in cnames.items()}
        self.asked: list[str] = []

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        self.asked.append(name)
        known = name in self.cnames or name in self.cnames.values()
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for _ in range(self.max_hops):
            target = self.cnames.get(name)
            if target is None:
                break
            reply.add_answer(RR(name + ".", QTYPE.CNAME, rdata=CNAME(target + "."), ttl=60))
            name = target
        if name in self.cnames:  # gave up before the end: SERVFAIL with the chain so far, as resolvers do
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if request.q.qtype in (QTYPE.A, QTYPE.ANY):
            reply.add_answer(RR(name + ".", QTYPE.A, rdata=A("127.0.0.1"), ttl=60))
        return reply


class DnsServer:
    def __init__(self, cnames: dict[str, str], max_hops: int = 8):
        self.resolver = _Resolver(cnames, max_hops)
        quiet = DNSLogger(logf=lambda _: None)  # dnslib prints every query to stdout otherwise
        self.server = DNSServer(self.resolver, port=0, address="127.0.0.1", logger=quiet)

    def __enter__(self) -> DnsServer:
        self.server.start_thread()
        self.port = self.server.server.server_address[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def asked(self) -> list[str]:
        return self.resolver.asked
