"""Keeps sensitive and pinned TLS connections undecrypted (tls_policy.Policy decides which).

A passthrough host's tunnel is judged at CONNECT by host-level rules only (as in hosts-only mode), then its TLS
goes through untouched: the client sees the site's own certificate. When a client refuses pixelguard's
certificate, the host is learned for that client (tls.learn) and its next connection passes through.
"""

from __future__ import annotations

import logging

from mitmproxy import http, tls

from pixelguard.display import safe
from pixelguard.proxy.blocker import refuse_tunnel
from pixelguard.proxy.state import State
from pixelguard.tls_policy import Policy

log = logging.getLogger(__name__)


class TlsPolicy:
    def __init__(self, state: State):
        self.state = state
        self.policy: Policy | None = None

    def setup(self) -> None:
        cfg = self.state.cfg
        self.policy = Policy(cfg.tls.passthrough, cfg.data_dir, cfg.tls.learn)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        st = self.state
        if flow.response or flow.error or st.mode == "hosts-only" or self.policy is None:
            return
        try:
            host = flow.request.host
            if st.paused() or not self.policy.passthrough(host, _client(flow.client_conn)):
                return
            verdict = st.engine.check_host(host)
            if verdict.blocked:
                refuse_tunnel(st, flow, host, verdict)
        except Exception:
            log.exception("pixelguard: TLS policy failed at CONNECT, passing %.200s", flow.request.host)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        if self.state.mode == "hosts-only" or self.policy is None:
            return
        host = data.client_hello.sni or (data.context.server.address or ("",))[0]
        if self.policy.passthrough(str(host), _client(data.context.client)):
            data.ignore_connection = True

    def tls_failed_client(self, data: tls.TlsData) -> None:
        if self.policy is None or not self.state.cfg.tls.learn:
            return
        host = data.conn.sni or (data.context.server.address or ("",))[0]
        client = _client(data.context.client)
        try:
            if client and host and self.policy.refused(client, str(host)):
                log.info(
                    "pixelguard: %s refused the certificate for %s: passed through from now on",
                    client,
                    safe(host),
                )
        except OSError as e:
            log.warning("pixelguard: cannot remember TLS passthrough for %s: %s", safe(host), e)


def _client(conn: object) -> str:
    peer = getattr(conn, "peername", None)
    return str(peer[0]) if peer else ""
