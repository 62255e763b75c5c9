"""The leak alarm: a request that carries the user's own email address or phone number (identity in the
config), plain or encoded or hashed, to a third party is stopped, whether or not a list knows the tracker.

A first-party request with it (a login form sending the address to its own site) passes and is no event. The
identifiers themselves are never stored: the event says which one, in what form ("your email (sha256)").
"""

from __future__ import annotations

from mitmproxy import http

from pixelguard.payloads.params import MAX_BODY
from pixelguard.proxy import responses
from pixelguard.proxy.blocker import payload_of
from pixelguard.proxy.state import State, check_passed, destination


class LeakAlarm:
    def __init__(self, state: State):
        self.state = state

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or not self.state.identity:
            return
        check_passed(flow, "leak check", self._request)

    def _request(self, flow: http.HTTPFlow, meta: dict) -> None:
        st = self.state
        req = flow.request
        url, host = destination(req)
        body = req.raw_content[:MAX_BODY] if req.raw_content else b""
        found = st.identity.find(url, body.decode("utf-8", "replace") if body else "")
        if not found:
            return
        from pixelguard.engine.request import domain_of

        site = meta.get("site") or ""
        if site and domain_of(host) == site:
            return  # first party: the site the user is on, e.g. its own login form
        payload = payload_of(st, req, url, found)
        where = "URL" if st.identity.find(url) else "body"
        flow.response = responses.blocked(
            meta["type"], url, host, "your identity (leak alarm)", "identity", None
        )
        meta.update(blocked=True, rule=None, list=None, line=None)
        detail = f"{', '.join(f'your {f.label}' for f in found)} in the {where}"
        st.event(flow, url, host, site, meta["type"], "leak", "blocked", None, detail=detail, payload=payload)
        st.writer.count(seen=0, stopped=1)
