"""Decides CONNECT tunnels and which TLS connections stay undecrypted, and learns pinned clients.

At CONNECT the pipeline answers by host alone (and a tunnel that will carry requests starts its host's CNAME
lookup, cname.py): in hosts-only mode, and for a host whose TLS is passed through
(tls_policy.Policy says why), a whole-host rule refuses the tunnel (403) before any handshake. A passed-through
host's TLS then goes through untouched: the client sees the site's own certificate. A client that refuses
pixelguard's certificate tells the TLS policy, which learns the host only under the conditions it documents;
a completed handshake tells it too (it starts the count again).
"""

from __future__ import annotations

import logging

from mitmproxy import http, tls

from pixelguard.decision.decision import Action
from pixelguard.display import safe
from pixelguard.invocation import cmd
from pixelguard.proxy import responses
from pixelguard.proxy.shared import Shared, failed
from pixelguard.tls_policy import refusal_kind

log = logging.getLogger(__name__)


def _client(conn: object) -> str:
    peer = getattr(conn, "peername", None)
    return str(peer[0]) if peer else ""


def _tls_host(data: tls.TlsData | tls.ClientHelloData, sni: str | None) -> str:
    return str(sni or (data.context.server.address or ("",))[0] or "")


class ConnectPolicy:
    def __init__(self, shared: Shared):
        self.shared = shared

    def http_connect(self, flow: http.HTTPFlow) -> None:
        sh = self.shared
        if flow.response or flow.error or sh.pipeline is None:
            return
        try:
            host = flow.request.host
            client = _client(flow.client_conn)
            d = sh.pipeline.decide_connect(host, client)
            if d.action is Action.BLOCKED:
                r = d.reason
                flow.response = responses.forbidden_connect(host, r.rule if r else None)
            if d.action is not Action.PASSED or sh.mode == "hosts-only":
                sh.recorder.connect(client, host, d)
            elif sh.resolver is not None and not d.paused and not sh.pipeline.engine.check_host(host).blocked:
                # Its requests will need host's CNAME chain: asked now, while the client's handshake goes on.
                sh.resolver.prefetch(host)
        except Exception as e:
            failed("CONNECT check", e)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        sh = self.shared
        if sh.mode == "hosts-only":
            data.ignore_connection = True  # hosts-only never intercepts TLS: no CA needed
            return
        if sh.tls is None or (sh.pipeline is not None and sh.pipeline.paused()):
            return
        host = _tls_host(data, data.client_hello.sni)
        if sh.tls.passthrough(host, _client(data.context.client)):
            data.ignore_connection = True

    def tls_established_client(self, data: tls.TlsData) -> None:
        if self.shared.tls is not None:
            self.shared.tls.succeeded(_client(data.context.client), _tls_host(data, data.conn.sni))

    def tls_failed_client(self, data: tls.TlsData) -> None:
        sh = self.shared
        if sh.tls is None or not sh.cfg.tls.learn:
            return
        kind = refusal_kind(data.conn.error)
        host = _tls_host(data, data.conn.sni)
        client = _client(data.context.client)
        try:
            learned = sh.tls.refused(client, host, kind)
        except OSError as e:
            log.warning("pixelguard: cannot remember TLS passthrough for %s: %s", safe(host), e.strerror or e)
            return
        except Exception as e:
            failed("TLS learning", e)
            return
        if learned is not None:
            how = "rejected the certificate" if kind == "alert" else "hung up on the certificate"
            detail = (
                f"a client at {client} {how} {learned.refusals} times with no handshake completed in between: "
                f"passed through undecrypted from now on (`{cmd('tls forget ' + host)}` undoes it)"
            )
            log.warning("pixelguard: %s: %s", safe(host), detail)
            sh.recorder.tls_learned(client, host, detail)
