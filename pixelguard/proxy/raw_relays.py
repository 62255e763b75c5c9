"""Tunnels that carry something other than HTTP: relayed as raw bytes, and recorded so that the user can see them.

A CONNECT tunnel (or a decrypted TLS stream inside one) whose first bytes are not HTTP is relayed by mitmproxy
byte for byte (its TCPLayer): no request in it is ever seen, so no list, pixel or leak check can apply. Only the
CONNECT's host was decided. That is right for protocols that are not HTTP (a mail client's IMAP or SMTP through
the proxy, a chat app's own protocol), but it is protection that the user cannot see otherwise, and a client
whose HTTP mitmproxy failed to recognise (proxy/http_lines.py fixed one such case) would pass the same way. So
each such tunnel becomes an event (reason "not-http", action "passthrough", the URL ``tcp://host:port``), shown
in the UI's log, in `pixelguard doctor` and in `pixelguard check` for that host.

Not recorded: connections mitmproxy ignores on purpose (TLS passed through, hosts-only mode), which have no flow
and are shown where they are decided (connect.py, tls_policy.py). A chatty client's tunnels to one host and port
are recorded at most once per limits.UNDECIDED_EVENT_EVERY_S.
"""

from __future__ import annotations

from mitmproxy import tcp

from pixelguard.engine.request import normal_host
from pixelguard.proxy.once_per import OncePer
from pixelguard.proxy.shared import Shared, guarded
from pixelguard.relays import relay_url

DETAIL = "a tunnel carried something other than HTTP: relayed as raw bytes, only its host was decided"


class RawRelays:
    def __init__(self, shared: Shared):
        self.shared = shared
        self._once = OncePer()

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        guarded("raw relay", self._record, flow)

    def _record(self, flow: tcp.TCPFlow) -> None:
        if self.shared.pipeline is None:  # not set up yet: nothing is served before it is
            return
        address = flow.server_conn.address  # where the tunnel really goes (the CONNECT's host and port)
        host = normal_host(str(address[0] if address else flow.server_conn.sni or ""))
        port = int(address[1]) if address else 0
        peer = flow.client_conn.peername
        client = str(peer[0]) if peer else ""
        if self._once.due((client, host, port)):
            self.shared.recorder.raw_relay(client, host, relay_url(host, port), DETAIL)
