"""What the proxy's addons share: the config, the engine in use, the event log, the pause switch, the learner.

One object, made by the parent addon (addon.py) and handed to each small addon, so that none of them reaches
into another. The engine is replaced by one reference swap (reloader.py); a hook sees the old engine or the new
one, never half of each.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mitmproxy import http

from pixelguard.proxy.learner import Learner
from pixelguard.store.event import Event

if TYPE_CHECKING:
    from pixelguard.config import Config
    from pixelguard.engine import Engine
    from pixelguard.store.writer import Writer

# Content types under which a tracking pixel hides besides image/*: missing, generic binary, plain text.
SNIFF_TYPES = ("", "application/octet-stream", "binary/octet-stream", "text/plain", "application/unknown")
# mitmproxy streams bodies bigger than this instead of holding them (stream_large_bodies): pixelguard only ever
# looks at small image bodies, and a 1 GB download must reach the client as it arrives.
STREAM_LARGER_THAN = "256k"
META = "pixelguard"  # the key of pixelguard's notes in flow.metadata

log = logging.getLogger(__name__)


class State:
    """Made empty with the addons (mitmproxy registers them before any option is known); ``setup`` fills it in
    ``configure``, before the first flow."""

    cfg: Config
    engine: Engine
    writer: Writer

    def __init__(self) -> None:
        self.mode = "full"  # full | hosts-only
        self.paused_until = 0.0  # epoch seconds; 0 = not paused
        self.learner = Learner()
        self.pending_learned: dict[str, str] = {}  # host -> path prefix: learned, not yet in the engine
        self.written_learned: set[str] = set()  # pending hosts whose rule is on disk
        self.learn_lock = threading.Lock()
        self.identity: Any = None  # identity.Identity: what the leak alarm looks for (and redacts)

    def setup(self, cfg: Config, engine: Engine, writer: Writer, mode: str) -> None:
        from pixelguard.identity import Identity

        self.cfg, self.engine, self.writer, self.mode = cfg, engine, writer, mode
        self.learner = Learner(cfg.pixels.learn_after)
        idn = cfg.identity
        self.identity = Identity(idn.emails, idn.phones, idn.country)

    def paused(self) -> bool:
        return self.paused_until > 0 and time.time() < self.paused_until

    def event(
        self,
        flow: http.HTTPFlow,
        url: str,
        host: str,
        site: str,
        rtype: str,
        reason: str,
        action: str,
        verdict: Any = None,
        nbytes: int = 0,
        detail: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Record what pixelguard did to this flow (the writer's queue: never SQLite inside a hook).

        The user's own identifiers (the leak alarm's) never reach the database: wherever one appears, in the
        URL, the detail or the payload, a placeholder takes its place."""
        peer = flow.client_conn.peername
        redact = self.identity.redact if self.identity else (lambda text: text)
        encoded = json.dumps(payload, ensure_ascii=False) if payload is not None else None
        self.writer.put(
            Event(
                ts=time.time(),
                client=str(peer[0]) if peer else "",
                method=flow.request.method,
                url=redact(url),
                host=host,
                site=site,
                type=rtype,
                reason=reason,
                action=action,
                rule=getattr(verdict, "rule", None),
                list=getattr(verdict, "list", None),
                line=getattr(verdict, "line", None),
                bytes=nbytes,
                detail=redact(detail),
                payload=redact(encoded),
            )
        )


def destination(req: http.Request) -> tuple[str, str]:
    """(URL, host) of where the request really goes: mitmproxy's host is the CONNECT target or the host of
    the absolute URL; pretty_url and pretty_host would take the sender's Host header instead."""
    return req.url, req.host.lower().rstrip(".")


def passed(flow: http.HTTPFlow) -> dict[str, Any] | None:
    """pixelguard's notes on a request the blocker let through with protection on; None when it was blocked,
    protection is paused, or the blocker never saw it. The addons after the blocker look only at these."""
    meta = flow.metadata.get(META)
    if meta is None or meta.get("blocked") or meta.get("paused"):
        return None
    return meta


def check_passed(
    flow: http.HTTPFlow, what: str, check: Callable[[http.HTTPFlow, dict[str, Any]], None]
) -> None:
    """Run an addon's ``check`` on a request the blocker passed (see passed). A check that fails lets the
    request through and logs why, naming it by ``what``: a bug in one feature must not break browsing."""
    meta = passed(flow)
    if meta is None:
        return
    try:
        check(flow, meta)
    except Exception:
        log.exception("pixelguard: %s failed, passing %s", what, flow_url(flow))


def site_of_page(source: str | None) -> str:
    if not source:
        return ""
    from pixelguard.engine.request import site_of

    return site_of(source)


def flow_url(flow: http.HTTPFlow) -> str:
    """The URL for a log line about a failure: never raises, never long."""
    try:
        return destination(flow.request)[0][:300]
    except Exception:
        return "?"
