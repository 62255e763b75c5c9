"""TLS session resumption with servers, kept apart per site as browsers keep theirs.

mitmproxy keeps its SSL context per settings but never offers a server a session it had before (11.0: its own
TODO in ``addons/tlsconfig.py``), so every upstream connection is a full handshake. Without a proxy the
browser would resume: on a TLS 1.2 server that is one round trip less per new connection, on TLS 1.3 the
server's certificate, its signature and our chain check are skipped. This addon offers the session an earlier
connection to that server left when it closed or, while it is still open, has so far.

A session ticket is an identifier the server handed out: offered from another site's page, it tells a tracker
that both visits are one user's. Browsers key their sessions by the top-level site for that reason (Chrome's
network isolation key, Firefox's partition key). So is it here: a session is kept under the site of the page
whose request opened the connection (``Request.source_domain``: the page itself for a page load), with the
server's address, its name and the SSL context (so one made under other settings, ``ssl_insecure`` or other
trusted CAs, is never resumed under these), and none is kept or offered when the page is unknown (mail clients,
pages that send no Referer).

The session of a full handshake is offered until the server declines it, then replaced by the next full
handshake's. (Browsers use each TLS 1.3 ticket once; OpenSSL, as pyOpenSSL drives it, does not hand over the
ticket a resumed connection gets: tests/e2e/test_tls_sessions.py shows the chain. Offered again within one
site, a ticket tells that site nothing its own cookies do not.)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from mitmproxy import connection, http
from mitmproxy.proxy import server_hooks
from mitmproxy.tls import TlsData
from OpenSSL import SSL

from pixelguard.limits import TLS_SESSIONS
from pixelguard.proxy.flow_note import note_of
from pixelguard.proxy.shared import guarded

Key = tuple[str, Any, str | None, tuple[bytes, ...], Any]


class UpstreamSessions:
    def __init__(self, cap: int = TLS_SESSIONS) -> None:
        self.cap = cap
        self._sessions: OrderedDict[Key, Any] = OrderedDict()  # key -> SSL.Session, least recent first
        self._site: dict[str, str] = {}  # client connection id -> the site of its latest request
        # Server connection id -> its key, fixed when its handshake starts (a request of another site on the
        # same client connection meanwhile changes nothing); then, for a full handshake, its SSL.Connection until
        # it closes, and the latest such connection per key.
        self._keys: dict[str, Key] = {}
        self._open: dict[str, tuple[Key, Any]] = {}
        self._latest: dict[Key, str] = {}

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # After the decider; with connection_strategy=lazy the server connection, if any, opens after this.
        note = note_of(flow)
        if note is not None and note.passed:
            self._site[flow.client_conn.id] = note.request.engine.source_domain or ""

    def client_disconnected(self, client: connection.Client) -> None:
        self._site.pop(client.id, None)

    def tls_start_server(self, data: TlsData) -> None:
        guarded("TLS session offer", self._offer, data)

    def tls_established_server(self, data: TlsData) -> None:
        guarded("TLS session", self._established, data)

    def server_disconnected(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._keys.pop(data.server.id, None)
        guarded("TLS session keep", self._keep, data.server.id)

    def _key(self, data: TlsData) -> Key | None:
        site = self._site.get(data.context.client.id)
        if not site or data.is_dtls or data.ssl_conn is None:
            return None
        conn = data.conn
        address = getattr(conn, "address", None)  # a Server's; TLS with a server is what is asked here
        return (site, address, conn.sni, tuple(conn.alpn_offers), data.ssl_conn.get_context())

    def _offer(self, data: TlsData) -> None:
        # Runs after mitmproxy's TlsConfig (addon order), which made the connection.
        key = self._key(data)
        if key is None or data.ssl_conn is None:
            return
        self._keys[data.conn.id] = key
        session = self._sessions.get(key)
        if session is None and (latest := self._open.get(self._latest.get(key, ""))) is not None:
            # A connection for the same key is still open: its session as of now, with every ticket read so far
            # (a browser's second connection to a host resumes while the first is still open, too).
            session = latest[1].get_session()
        if session is not None:
            data.ssl_conn.set_session(session)

    def _established(self, data: TlsData) -> None:
        key = self._keys.pop(data.conn.id, None)
        if key is None or data.ssl_conn is None:
            return
        if _resumed(data.ssl_conn):
            if key in self._sessions:  # still good: the least recently used are dropped first
                self._sessions.move_to_end(key)
        else:  # a full handshake: the session offered, if any, was declined; this one's replaces it
            self._sessions.pop(key, None)
            self._open[data.conn.id] = (key, data.ssl_conn)
            self._latest[key] = data.conn.id

    def _keep(self, server_id: str) -> None:
        # When the connection closes: every ticket the server sent by then is in its session.
        entry = self._open.pop(server_id, None)
        if entry is None:
            return
        key, conn = entry
        if self._latest.get(key) == server_id:
            del self._latest[key]
        session = conn.get_session()
        if session is None:
            return
        self._sessions[key] = session
        while len(self._sessions) > self.cap:
            self._sessions.popitem(last=False)


def _resumed(conn: Any) -> bool:
    """Did this connection resume a session? (pyOpenSSL has no call for it; OpenSSL has.)"""
    return bool(SSL._lib.SSL_session_reused(conn._ssl))  # type: ignore[attr-defined]
