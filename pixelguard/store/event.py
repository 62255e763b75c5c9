"""The event record: what the proxy hands the store for each stopped or altered request.

Never bodies, cookies or auth headers: only what a person needs to see what was stopped and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Why: a list rule, a replaced pixel, a learned rule, a whole-host rule at CONNECT, a CNAME chain, removed
# parameters, the user's identity, a collection protocol's payload, identifiers removed from an allowed
# tracker, a decoded tracked link, a host learned as passed through undecrypted, a tunnel that carried something
# other than HTTP (relayed as raw bytes), a request body read in part (its middle streamed to the server unread).
NOT_HTTP = "not-http"
UNREAD_BODY = "body-unread"
REASONS = (
    "filter", "pixel", "learned", "host", "cname", "param", "leak", "schema", "redacted", "unwrapped", "tls-learned",
    NOT_HTTP, UNREAD_BODY,
)  # fmt: skip
ACTIONS = ("blocked", "replaced", "cleaned", "redacted", "unwrapped", "passthrough")
# Actions that stop what the tracker would have received; the counters' "stopped" counts exactly these.
STOPPING = ("blocked", "replaced")
MAX_URL = 2000


@dataclass(frozen=True, slots=True)
class Event:
    ts: float  # time.time(): seconds since the epoch, UTC
    client: str  # client address, "127.0.0.1"
    method: str
    url: str
    host: str
    site: str  # first-party registrable domain, "" when unknown (mail clients)
    type: str  # engine resource type
    reason: str  # one of REASONS
    action: str  # one of ACTIONS
    rule: str | None = None  # raw text of the rule that decided
    list: str | None = None
    line: int | None = None
    bytes: int = 0  # bytes the tracker did not get to send (body size replaced or never fetched)
    detail: str | None = None  # e.g. "1x1 gif" for a detected pixel
    payload: str | None = None  # JSON: what the request would have told the tracker (payloads.decode)

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d["url"] = self.url[:MAX_URL]
        return d
