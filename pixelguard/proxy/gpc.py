"""Global Privacy Control: ``Sec-GPC: 1`` on every request pixelguard passes upstream (config privacy.gpc).

GPC is an opt-out of the sale and sharing of personal data that several US state laws (CCPA/CPRA among them)
make binding on the sites that receive it; Privacy Badger and DuckDuckGo send it. The header is added to
requests that go upstream only: a blocked request goes nowhere.
"""

from __future__ import annotations

from mitmproxy import http

from pixelguard.proxy.state import META, State


class Gpc:
    def __init__(self, state: State):
        self.state = state

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or not self.state.cfg.privacy.gpc:
            return
        meta = flow.metadata.get(META)
        if meta is not None and meta.get("paused"):
            return
        flow.request.headers["Sec-GPC"] = "1"
