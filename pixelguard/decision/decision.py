"""What the pipeline answers for one request: one typed Decision, with every reason that led to it.

The proxy applies a Decision and records it once; ``pixelguard check`` prints the same object. Nothing in here
knows about mitmproxy: the transport turns ``answer`` into a response and ``url``/``drop_headers`` into edits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    BLOCKED = "blocked"  # answered locally (or the tunnel refused); nothing reaches the destination
    CLEANED = "cleaned"  # goes upstream with tracking parameters removed (or a 307 to the cleaned URL)
    REDACTED = "redacted"  # an allowed tracker request goes upstream without the identifiers it carried
    UNWRAPPED = "unwrapped"  # a tracked link answered with a 307 straight to its destination
    PASSTHROUGH = "passthrough"  # TLS passed through undecrypted: only whole-host rules can apply
    PASSED = "passed"  # goes upstream as it is


# What a stage is called in a Reason, and the event reason it is recorded under (store/event.py REASONS).
STAGES = {
    "filter": "filter",  # a list rule matched the request (or the host its Host header names)
    "learned": "learned",  # a rule learned from pixels (possibly still being compiled)
    "host": "host",  # a whole-host rule refused a CONNECT tunnel
    "cname": "cname",  # a rule matched a canonical name of the host
    "schema": "schema",  # the request carries a collection protocol's payload
    "leak": "leak",  # the request carries the user's own identifiers to a third party
    "param": "param",  # $removeparam rules removed parameters
    "unwrapped": "unwrapped",  # a tracked link's destination was decoded from its URL
    "redacted": "redacted",  # identifiers removed from an allowed tracker request
    "tls": "tls-learned",  # passed through undecrypted (bundled, configured or learned)
    "allowed": "allowed",  # an exception rule let the request through (not an event by itself)
    "paused": "paused",  # protection is paused: everything passes (not an event)
}


@dataclass(frozen=True, slots=True)
class Reason:
    stage: str  # a key of STAGES
    rule: str | None = None
    list: str | None = None
    line: int | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "rule": self.rule,
            "list": self.list,
            "line": self.line,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """One request's fate. ``reasons[0]`` is the one that decided; later ones add to it (a leak found in a
    request a list blocked, the exception that let an allowed tracker through)."""

    action: Action
    reasons: tuple[Reason, ...] = ()
    url: str | None = None  # CLEANED / UNWRAPPED: where the request goes instead
    redirect: bool = False  # answer with a 307 to ``url`` instead of rewriting the request (page loads)
    drop_headers: tuple[str, ...] = ()  # REDACTED / header hygiene: request headers removed (lower-case)
    drop_cookies: tuple[str, ...] = ()  # cookie names removed from the request's Cookie header
    set_referer: str | None = None  # header hygiene: the Referer cut to the page's origin
    body: bytes | None = field(default=None, compare=False, repr=False)  # REDACTED: the body to send instead
    redirect_resource: str | None = None  # BLOCKED by a $redirect= rule: the neutral resource it names
    allowed: bool = False  # an exception covers the request: its pixels stay, its cookies may be redacted
    paused: bool = False
    payload: dict[str, Any] | None = field(default=None, compare=False)  # what the tracker would have learned

    @property
    def stopped(self) -> bool:
        return self.action is Action.BLOCKED

    @property
    def goes_upstream(self) -> bool:
        return self.action in (Action.CLEANED, Action.REDACTED, Action.PASSED, Action.PASSTHROUGH) and not (
            self.redirect
        )

    @property
    def reason(self) -> Reason | None:
        return self.reasons[0] if self.reasons else None

    def with_payload(self, payload: dict[str, Any] | None) -> Decision:
        return replace(self, payload=payload)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": str(self.action), "reasons": [r.to_dict() for r in self.reasons]}
        if self.url is not None:
            out["url"] = self.url
            out["redirect"] = self.redirect
        if self.drop_headers:
            out["drop_headers"] = list(self.drop_headers)
        if self.drop_cookies:
            out["drop_cookies"] = list(self.drop_cookies)
        if self.set_referer:
            out["set_referer"] = self.set_referer
        if self.redirect_resource:
            out["redirect_resource"] = self.redirect_resource
        if self.paused:
            out["paused"] = True
        if self.payload is not None:
            out["payload"] = self.payload
        return out


PASSED = Decision(Action.PASSED)
