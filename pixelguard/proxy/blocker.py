"""Stops tracker requests before they leave: a verdict per request, a local answer for the blocked ones.

In hosts-only mode it refuses CONNECT tunnels to tracker hosts and never intercepts TLS. Fails open: an
exception here lets the request pass and is logged with its URL.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mitmproxy import http, tls

from pixelguard.proxy import reqtype, responses
from pixelguard.proxy.learner import under
from pixelguard.proxy.state import META, State, destination, flow_url, site_of_page

log = logging.getLogger(__name__)

_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z")


class Blocker:
    def __init__(self, state: State):
        self.state = state

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        try:
            self._request(flow)
        except Exception:
            log.exception("pixelguard: request check failed, passing %s", flow_url(flow))

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """Hosts-only mode: refuse tunnels to tracker hosts; nothing else is looked at before TLS."""
        st = self.state
        if st.mode != "hosts-only" or flow.response or flow.error:
            return
        try:
            if st.paused():
                return
            host = flow.request.host
            verdict = st.engine.check_host(host)
            st.writer.count(seen=1, stopped=1 if verdict.blocked else 0)
            if not verdict.blocked:
                return
            refuse_tunnel(st, flow, host, verdict)
        except Exception:
            log.exception("pixelguard: CONNECT check failed, passing %.200s", flow.request.host)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        # Hosts-only mode never intercepts TLS: the client need not trust mitmproxy's CA.
        if self.state.mode == "hosts-only":
            data.ignore_connection = True

    def _request(self, flow: http.HTTPFlow) -> None:
        st = self.state
        if st.paused():
            flow.metadata[META] = {"paused": True}
            st.writer.count(seen=1, stopped=0)
            return
        req = flow.request
        # Decide on where the connection really goes (the CONNECT target or the absolute URL), never on the
        # Host header, which the sender chooses freely: `-H 'Host: innocent.example'` must not unblock a tracker.
        url, host = destination(req)
        rtype = reqtype.resource_type(req.headers, url)
        source = reqtype.source_url(req.headers)
        engine = st.engine
        verdict: Any = engine.check(url, source, rtype, req.method)
        named = _host_header(req)
        detail = None
        if not verdict.blocked and named and named != host:
            # The server will answer for the name in Host (domain fronting): a tracker hiding behind an
            # innocent address is stopped by its own name too.
            fronted = engine.check(url.replace(host, named, 1), source, rtype, req.method)
            if fronted.blocked:
                verdict, detail = fronted, f"Host header names {named}"
        prefix = st.pending_learned.get(host) if rtype == "image" and not verdict.blocked else None
        if prefix is not None and not verdict.exception and under(req.path, prefix):
            # Learned a moment ago (lists.learned_rule); the engine with the rule is still being built.
            verdict = _LearnedVerdict(host, prefix)
        site = site_of_page(source)
        flow.metadata[META] = {
            "blocked": verdict.blocked,
            "allowed": bool(verdict.exception) and not verdict.blocked,
            "type": rtype,
            "site": site,
            "source": source,
            "rule": verdict.rule,
            "list": verdict.list,
            "line": verdict.line,
        }
        if not verdict.blocked:
            st.writer.count(seen=1, stopped=0)
            return
        payload = payload_of(st, req, url)  # read before the request is answered: its body goes nowhere
        flow.response = responses.blocked(rtype, url, host, verdict.rule, verdict.list, verdict.line)
        reason = "learned" if verdict.list == "learned" else "filter"
        st.event(flow, url, host, site, rtype, reason, "blocked", verdict, detail=detail, payload=payload)
        st.writer.count(seen=1, stopped=1)


def refuse_tunnel(st: State, flow: http.HTTPFlow, host: str, verdict: Any) -> None:
    """Answer a CONNECT to a tracker host with 403 and record it (hosts-only mode, and passthrough hosts)."""
    flow.response = responses.forbidden_connect(host, verdict.rule)
    flow.metadata[META] = {"blocked": True, "rule": verdict.rule, "list": verdict.list}
    authority = f"[{host}]" if ":" in host else host
    st.event(flow, f"https://{authority}/", host, "", "other", "host", "blocked", verdict)


class _LearnedVerdict:
    """Stands in for the engine's verdict while the freshly learned rule is being compiled."""

    def __init__(self, host: str, prefix: str):
        from pixelguard.lists import learned_rule

        self.blocked = True
        self.rule = learned_rule(host, prefix)
        self.list = "learned"
        self.line = None
        self.exception = None


def payload_of(
    st: State, req: http.Request, url: str, found: list[Any] | None = None
) -> dict[str, Any] | None:
    """What the stopped request would have told the tracker (payloads.decode), and which of the user's own
    identifiers it carried. Only the first 64 KB of a body are read; a streamed body is not read at all."""
    from pixelguard import payloads
    from pixelguard.payloads.params import MAX_BODY

    body = req.raw_content[:MAX_BODY] if req.raw_content else None
    try:
        payload = payloads.decode(url, req.method, body, req.headers.get("content-type"))
    except Exception:
        log.exception("pixelguard: payload decoder failed for %.200s", url)
        payload = None
    if found is None and st.identity:
        found = st.identity.find(url, body.decode("utf-8", "replace") if body else "")
    if found:
        payload = payload or {"vendor": None, "event": None, "fields": {}, "identifiers": []}
        mine = [f"your {f.label}" for f in found]
        payload["identifiers"] = list(dict.fromkeys(mine + payload["identifiers"]))
    return payload


def _host_header(req: http.Request) -> str | None:
    """The host the Host header (or HTTP/2 :authority) names, when it is a plausible name; else None."""
    raw = req.headers.get("host") or req.authority or ""
    name = raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
    name = name.strip().lower().rstrip(".")
    if not name or len(name) > 253 or not _HOST_NAME.match(name):
        return None
    return name
