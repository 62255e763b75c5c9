"""A DNS server on 127.0.0.1 for the CNAME tests (dnslib): answers CNAME chains it is given, A 127.0.0.1 at the
end of each, and NXDOMAIN for anything else. Only ever asked by pixelguard, on loopback.

``udp_limit=N``: UDP answers over N bytes are cut to their header with the TC flag (as a resolver cuts an answer
too big for a datagram), and the same port answers over TCP in full."""

from __future__ import annotations

from typing import Any

from dnslib import CNAME, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


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


class _CuttingHandler(DNSHandler):
    """Cuts a UDP answer over ``limit`` bytes to its header and question with TC set, as resolvers do (dnslib's
    own cut drops the question too, and an answer to no question is refused by dnspython as not ours)."""

    limit = 0

    def get_reply(self, data: bytes) -> bytes:
        rdata: bytes = super().get_reply(data)
        if self.protocol == "udp" and self.limit and len(rdata) > self.limit:
            cut = DNSRecord.parse(data).reply()
            cut.header.tc = 1
            rdata = cut.pack()
        return rdata


class DnsServer:
    def __init__(self, cnames: dict[str, str], max_hops: int = 8, udp_limit: int | None = None):
        self.resolver = _Resolver(cnames, max_hops)
        quiet = DNSLogger(logf=lambda _: None)  # dnslib prints every query to stdout otherwise
        handler = type("Handler", (_CuttingHandler,), {"limit": udp_limit or 0})
        self.tcp: DNSServer | None = None
        for _ in range(20):
            self.server = DNSServer(self.resolver, port=0, address="127.0.0.1", logger=quiet, handler=handler)
            self.port = self.server.server.server_address[1]
            if not udp_limit:
                break
            try:  # TCP on the same port number: taken by something else now and then, so try another pair
                self.tcp = DNSServer(
                    self.resolver, port=self.port, address="127.0.0.1", tcp=True, logger=quiet
                )
                break
            except OSError:
                self.server.server.server_close()
        else:
            raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")

    def __enter__(self) -> DnsServer:
        self.server.start_thread()
        if self.tcp is not None:
            self.tcp.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        if self.tcp is not None:
            self.tcp.stop()

    @property
    def asked(self) -> list[str]:
        return self.resolver.asked
