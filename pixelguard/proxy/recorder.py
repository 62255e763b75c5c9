"""Records what the proxy did, in one place: one event per stop or change and the per-minute counters, so
that the two always agree (every request decided counts as seen once; every event whose action stops
something counts as stopped once, and nothing else does).

Events go to the store's writer queue (never SQLite inside a hook). The user's own identifiers never reach the
database: the URL, the detail and the payload pass through the leak alarm's ``safe_text`` first, which
replaces every form it knows and cuts a text in which an encoded form survives.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pixelguard.decision.decision import STAGES, Action, Decision
from pixelguard.decision.leaks import Identity
from pixelguard.decision.request_model import RequestModel
from pixelguard.store.event import NOT_HTTP, UNREAD_BODY, Event
from pixelguard.store.writer import Writer

# Decisions recorded as an event (PASSED and PASSTHROUGH requests are only counted as seen).
_RECORDED = (Action.BLOCKED, Action.CLEANED, Action.REDACTED, Action.UNWRAPPED)


class Recorder:
    def __init__(self, writer: Writer, identity: Identity | None = None):
        self.writer = writer
        self.identity = identity or Identity()

    def request(self, req: RequestModel, d: Decision, *, nbytes: int = 0) -> None:
        """A request's decision, once it is final."""
        stopped = d.action is Action.BLOCKED
        if d.action in _RECORDED and d.reason is not None:
            self._decision(req.client, req.method, req.url, req.host, req.site, req.type, d, nbytes=nbytes)
        self.writer.count(seen=1, stopped=1 if stopped else 0)

    def pixel(self, req: RequestModel, detail: str, nbytes: int) -> None:
        """A response that was a pixel, replaced (the request was counted as seen when it was decided)."""
        self._put(client=req.client, method=req.method, url=req.url, host=req.host, site=req.site, type=req.type,
                  reason="pixel", action="replaced", bytes=nbytes, detail=detail)  # fmt: skip
        self.writer.count(seen=0, stopped=1)

    def connect(self, client: str, host: str, d: Decision) -> None:
        """A CONNECT decided: refused (an event and a stop) or passed through (seen only)."""
        if d.action is Action.BLOCKED:
            self._decision(client, "CONNECT", _tunnel_url(host), host, "", "other", d)
        self.writer.count(seen=1, stopped=1 if d.action is Action.BLOCKED else 0)

    def tls_learned(self, client: str, host: str, detail: str) -> None:
        self._put(client=client, method="CONNECT", url=_tunnel_url(host), host=host, site="", type="other",
                  reason="tls-learned", action="passthrough", detail=detail)  # fmt: skip

    def raw_relay(self, client: str, host: str, url: str, detail: str) -> None:
        """A tunnel relayed as raw bytes (proxy/raw_relays.py): nothing in it was decided, so nothing is counted."""
        self._put(client=client, method="CONNECT", url=url, host=host, site="", type="other",
                  reason=NOT_HTTP, action="passthrough", detail=detail)  # fmt: skip

    def body_unread(self, req: RequestModel, detail: str) -> None:
        """A request body read in part (its middle streamed to the server unread). Where it went, never its path or
        page; not counted (the request was, when it was decided)."""
        scheme = req.url.partition("://")[0] or "https"
        self._put(client=req.client, method=req.method, url=_tunnel_url(req.host, scheme), host=req.host, site="",
                  type=req.type, reason=UNREAD_BODY, action="passthrough", detail=detail)  # fmt: skip

    def _decision(
        self,
        client: str,
        method: str,
        url: str,
        host: str,
        site: str,
        rtype: str,
        d: Decision,
        nbytes: int = 0,
    ) -> None:
        r = d.reason
        assert r is not None
        details = [x.detail for x in d.reasons if x.detail and x.stage not in ("allowed", "paused")]
        self._put(client=client, method=method, url=url, host=host, site=site, type=rtype,
                  reason=STAGES[r.stage], action=str(d.action), rule=r.rule, list=r.list, line=r.line,
                  bytes=nbytes, detail="; ".join(dict.fromkeys(details)) or None, payload=d.payload)  # fmt: skip

    def _put(
        self, *, url: str, detail: str | None = None, payload: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        """One event, with the user's identifiers kept out of every text it stores."""
        safe = self.identity.safe_text
        encoded = (
            json.dumps(_safe_payload(payload, self.identity), ensure_ascii=False)
            if payload is not None
            else None
        )
        self.writer.put(
            Event(
                ts=time.time(),
                url=safe(url, url=True) or "",
                detail=safe(detail),
                payload=safe(encoded),
                **fields,
            )
        )


def _tunnel_url(host: str, scheme: str = "https") -> str:
    return f"{scheme}://[{host}]/" if ":" in host else f"{scheme}://{host}/"


def _safe_payload(value: Any, identity: Identity) -> Any:
    """The payload with every string passed through the leak alarm (before any JSON escaping could hide one)."""
    if not identity:
        return value
    if isinstance(value, str):
        return identity.safe_text(value)
    if isinstance(value, dict):
        return {str(identity.safe_text(str(k))): _safe_payload(v, identity) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe_payload(v, identity) for v in value]
    return value
