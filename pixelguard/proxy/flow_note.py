"""pixelguard's notes on a flow (``flow.metadata["pixelguard"]``): one typed object the addons share.

Written by the request decider when a request's headers arrive, read by the addons after it (GPC, the pixel
replacer) and by the recorder. A misspelt attribute is an AttributeError that mypy catches, never a KeyError that
fails open at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mitmproxy.flow import Error

from pixelguard.decision.bodies import StreamedBody
from pixelguard.decision.decision import Decision
from pixelguard.decision.request_model import RequestModel

KEY = "pixelguard"


@dataclass(slots=True)
class FlowNote:
    request: RequestModel
    decision: Decision
    recorded: bool = False  # the decision is in the event log and the counters (once)
    killed: bool = False  # blocked with a body too big to hold: the client's request was cut
    streamed: StreamedBody | None = None  # a big body read while it streamed upstream
    replaced: str | None = None  # the response was a pixel, replaced ("1x1 gif")

    @property
    def passed(self) -> bool:
        """Did the request go upstream with protection on (the addons after the decider look only at these)?"""
        return self.decision.goes_upstream and not self.decision.paused


def note_of(flow: Any) -> FlowNote | None:
    note = flow.metadata.get(KEY)
    return note if isinstance(note, FlowNote) else None


def killed(flow: Any) -> bool:
    """Was the flow killed by a hook (a decision of pixelguard's), not ended by an error or a peer's reset?"""
    return flow.error is not None and flow.error.msg == Error.KILLED_MESSAGE
