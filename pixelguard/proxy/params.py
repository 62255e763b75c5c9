"""Takes tracking parameters (fbclid, gclid, utm_*, ...) out of the requests that pass, by ``$removeparam`` rules.

The server sees the cleaned URL. A page load whose URL changed is answered with a 307 to the cleaned URL instead,
so that neither the address bar nor the page's own scripts ever see the parameters (uBO does the same in the
browser). A page load is a request with ``Sec-Fetch-Dest: document``, or, from clients that do not send it, one
that asks for HTML and has no Referer (a link opened from a mail or another app).
"""

from __future__ import annotations

from mitmproxy import http

from pixelguard import params
from pixelguard.proxy.state import State, check_passed, destination


class ParamStripper:
    def __init__(self, state: State):
        self.state = state

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        check_passed(flow, "parameter check", self._request)

    def _request(self, flow: http.HTTPFlow, meta: dict) -> None:
        req = flow.request
        url, host = destination(req)
        if "?" not in url:
            return
        st = self.state
        rules = st.engine.removeparams(url, meta.get("source"), meta["type"])
        if not rules:
            return
        cleaned, removed = params.clean(url, [r.param for r in rules])
        if not removed:
            return
        detail = "removed " + ", ".join(dict.fromkeys(removed))
        rule = next(iter(rules))
        if _is_navigation(req) and req.method in ("GET", "HEAD"):
            flow.response = http.Response.make(
                307, b"", {"Location": cleaned, "Cache-Control": "no-store", "X-Pixelguard": "cleaned"}
            )
        else:
            req.url = cleaned
        st.event(flow, url, host, meta["site"], meta["type"], "param", "cleaned", rule, detail=detail)


def _is_navigation(req: http.Request) -> bool:
    dest = req.headers.get("sec-fetch-dest", "").strip().lower()
    if dest:
        return dest == "document"
    accept = req.headers.get("accept", "").lower()
    return accept.startswith(("text/html", "application/xhtml")) and not req.headers.get("referer")
