"""The upstream TLS session store's bounds and keys (proxy/tls_sessions.py), hook by hook; the handshakes
themselves are real in tests/e2e/test_tls_sessions.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from OpenSSL import SSL

from pixelguard.decision.decision import Action, Decision
from pixelguard.decision.request_model import RequestModel
from pixelguard.proxy.flow_note import KEY, FlowNote
from pixelguard.proxy.tls_sessions import UpstreamSessions

CONTEXT = SSL.Context(SSL.TLS_CLIENT_METHOD)


class _Conn:
    """An SSL.Connection as the addon sees it: a real one underneath (never handshaken, so not resumed)."""

    def __init__(self) -> None:
        self._real = SSL.Connection(CONTEXT)
        self._ssl = self._real._ssl
        self.offered: object | None = None
        self.session = object()

    def get_context(self) -> SSL.Context:
        return CONTEXT

    def set_session(self, session: object) -> None:
        self.offered = session

    def get_session(self) -> object:
        return self.session


def _connect(
    store: UpstreamSessions, client: str, page: str | None, *, paused: bool = False, close: bool = True
) -> _Conn:
    """One client connection's request to https://t.example/ from ``page``, then a new upstream connection for
    it, closed unless ``close`` is false; returns that connection."""
    model = RequestModel.from_url("https://t.example/p.gif", source=page)
    note = FlowNote(model, Decision(Action.PASSED, paused=paused))
    store.requestheaders(SimpleNamespace(metadata={KEY: note}, client_conn=SimpleNamespace(id=client)))  # type: ignore[arg-type]
    conn = _Conn()
    server = SimpleNamespace(id=f"s-{client}", address=("t.example", 443), sni="t.example", alpn_offers=[])
    data: Any = SimpleNamespace(context=SimpleNamespace(client=SimpleNamespace(id=client)), conn=server,
                                ssl_conn=conn, is_dtls=False)  # fmt: skip
    store.tls_start_server(data)
    store.tls_established_server(data)
    if close:
        store.server_disconnected(SimpleNamespace(server=server))  # type: ignore[arg-type]
    return conn


def test_a_session_is_offered_only_to_the_site_it_was_made_for() -> None:
    store = UpstreamSessions()
    first = _connect(store, "c1", "https://a.example/")
    assert first.offered is None
    assert _connect(store, "c2", "https://www.a.example/x").offered is first.session  # same site
    assert _connect(store, "c3", "https://b.example/").offered is None


def test_no_page_and_a_paused_proxy_keep_nothing() -> None:
    store = UpstreamSessions()
    _connect(store, "c1", None)
    assert _connect(store, "c2", None).offered is None
    _connect(store, "c3", "https://a.example/", paused=True)
    assert _connect(store, "c4", "https://a.example/").offered is None


def test_the_least_recently_used_site_is_dropped_past_the_cap() -> None:
    store = UpstreamSessions(cap=2)
    for site in ("a", "b", "c"):
        _connect(store, f"c-{site}", f"https://{site}.example/")
    assert _connect(store, "again-a", "https://a.example/").offered is None
    assert _connect(store, "again-c", "https://c.example/").offered is not None


def test_a_connection_still_open_lends_its_session_as_of_now() -> None:
    store = UpstreamSessions()
    first = _connect(store, "c1", "https://a.example/", close=False)
    first.session = object()  # a ticket that came after the handshake
    assert _connect(store, "c2", "https://a.example/").offered is first.session
    assert _connect(store, "c3", "https://b.example/").offered is None
