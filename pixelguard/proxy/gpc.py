"""Global Privacy Control: ``Sec-GPC: 1`` on every request pixelguard passes upstream (config privacy.gpc).

GPC is an opt-out of the sale and sharing of personal data that several US state laws (CCPA/CPRA among them)
make binding on the sites that receive it; Privacy Badger and DuckDuckGo send it. The header is added to
requests that go upstream only: a blocked request goes nowhere, and a paused proxy adds nothing.
"""

from __future__ import annotations

from mitmproxy import http

from pixelguard.proxy.flow_note import note_of
from pixelguard.proxy.shared import Shared


class Gpc:
    def __init__(self, shared: Shared):
        self.shared = shared

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # At requestheaders, after the decider: a streamed request's headers leave before its `request` hook.
        if flow.response or flow.error or not flow.live or not self.shared.cfg.privacy.gpc:
            return
        note = note_of(flow)
        if note is None or note.passed:  # no note: the decider failed open; the request still goes
            flow.request.headers["Sec-GPC"] = "1"
