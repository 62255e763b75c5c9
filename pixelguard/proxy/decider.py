"""Decides each request once, before anything of it leaves, and applies the Decision.

``requestheaders`` builds the request model (once) and asks the pipeline everything the URL and headers decide,
before mitmproxy opens an upstream connection or reads the body:

- blocked: answered locally. Its body (up to ``limits.BODY_HOLD``) is held and never sent; a blocked request
  whose body is bigger or of unknown length (chunked, HTTP/2 without Content-Length) is cut instead (the client
  sees its request fail, as behind uBO), since holding it would cost its size in memory;
- cleaned page loads and unwrapped links: a 307 answered locally; other cleaned requests go upstream rewritten;
- passed with a body up to BODY_HOLD: mitmproxy holds it and ``request`` asks the body stages before sending;
- passed with a bigger body or one of unknown length: it streams through a gate that holds each part back until
  the body stages have read it (the first BODY_HOLD bytes before any is released, a rolling BODY_TAIL at the end).
  A stop found in it releases nothing more and leaves the upstream request incomplete, so that no server takes
  it for a whole one.

The CNAME stage needs a DNS answer. A request to a name whose chain is not known waits for the lookup (the one
under way for that name, started at CONNECT or by the page if it was: cname.py; at most the resolver's timeout)
and is decided again; a chain past its TTL is used while a new lookup runs in the background; a page load never
waits (it is not judged by its host's aliases) but starts the lookup for the requests it will make. Every
failure here fails open, logged in one line without the request's data (shared.failed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from mitmproxy import http

from pixelguard import cname, relays
from pixelguard.decision.bodies import StreamedBody, view_of
from pixelguard.decision.decision import Action, Decision
from pixelguard.decision.pipeline import judged_by_aliases
from pixelguard.decision.redact import without_cookies
from pixelguard.decision.request_model import RequestModel, header_map
from pixelguard.limits import BODY_HOLD, BODY_TAIL
from pixelguard.proxy import responses
from pixelguard.proxy.flow_note import KEY, FlowNote, note_of
from pixelguard.proxy.once_per import OncePer
from pixelguard.proxy.shared import Shared, failed, guarded

log = logging.getLogger(__name__)

# Methods whose requests carry no body unless they say so with Content-Length or Transfer-Encoding.
_BODILESS = frozenset(("GET", "HEAD", "OPTIONS", "DELETE", "TRACE"))


def model_of(flow: http.HTTPFlow) -> RequestModel:
    """The request model of a flow: the destination mitmproxy connects to (the CONNECT target or the absolute
    URL), never the Host header, which the sender chooses freely."""
    r = flow.request
    peer = flow.client_conn.peername
    return RequestModel.build(
        r.url,
        r.host,
        r.method,
        header_map(r.headers.items(multi=True)),
        client=str(peer[0]) if peer else "",
        authority=r.authority,
    )


def body_size(r: http.Request) -> int | None:
    """The body size the request announces: an int, or None when unknown until it ends (chunked, or HTTP/2 and
    3, where a body needs no Content-Length)."""
    if r.headers.get("transfer-encoding"):
        return None
    length = r.headers.get("content-length")
    if length is not None:
        try:
            return max(0, int(length.strip()))
        except ValueError:
            return None  # mitmproxy refuses such a request before it gets here; unknown, to be safe
    if r.method.upper() in _BODILESS or r.http_version.startswith("HTTP/1"):
        return 0
    return None


class RequestDecider:
    def __init__(
        self,
        shared: Shared,
        submit: Callable[..., None] | None = None,
        wake: Callable[[], None] | None = None,
    ):
        self.shared = shared
        self.submit = submit  # learned collection paths are written off the event loop, by the file thread
        self.wake = wake  # tells the reloader a learned rule is on disk
        self._unread = OncePer()  # bodies read in part: an event per client and host an hour

    def requestheaders(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        """Sync when the decision is at hand; a coroutine (which mitmproxy awaits) when a CNAME lookup is due."""
        if flow.response or flow.error or not flow.live or self.shared.pipeline is None:
            return None
        try:
            req = model_of(flow)
            note = FlowNote(req, self.shared.pipeline.decide_url(req))
            flow.metadata[KEY] = note
            if self._lookup_due(note):
                return self._after_lookup(flow, note)
            self._apply(flow, note)
        except Exception as e:
            failed("request check", e)
        return None

    def _lookup_due(self, note: FlowNote) -> bool:
        """Must this request wait for its host's chain? Starts the lookups it will not wait for."""
        resolver = self.shared.resolver
        d = note.decision
        if resolver is None or d.action is Action.BLOCKED or d.allowed or d.paused:
            return False
        host = note.request.host
        if not cname.worth_lookup(host):
            return False
        if resolver.cached(host) is not None:
            if not resolver.fresh(host):
                resolver.lookup(host)  # judged by the last answer meanwhile
            return False
        if not judged_by_aliases(note.request):
            resolver.lookup(host)  # for the page's own requests to its host
            return False
        return True

    async def _after_lookup(self, flow: http.HTTPFlow, note: FlowNote) -> None:
        try:
            assert self.shared.resolver is not None and self.shared.pipeline is not None
            lookup = self.shared.resolver.lookup(note.request.host)
            if lookup is not None:
                # Shielded: other requests wait on the same lookup, and this one's client may go away.
                await asyncio.shield(lookup)
        except Exception as e:
            failed("CNAME lookup", e)  # decided without the chain, as when DNS does not answer
        try:
            if flow.live and not flow.error and self.shared.pipeline is not None:
                note.decision = self.shared.pipeline.decide_url(note.request)
                self._apply(flow, note)
        except Exception as e:
            failed("CNAME check", e)

    def _apply(self, flow: http.HTTPFlow, note: FlowNote) -> None:
        d, r = note.decision, flow.request
        size = body_size(r)
        if d.stopped:
            if size is not None and size <= BODY_HOLD:
                r.stream = False
                flow.response = responses.answer(note.request, d)
                return  # recorded in `request`, when the body (never sent) is at hand for the payload
            note.killed = True
            self._record(note, self._describe(note, None), nbytes=size or 0)
            flow.kill()
            return
        local = responses.answer(note.request, d)
        if local is not None:
            flow.response = local
            return
        if d.url and d.action in (Action.CLEANED, Action.REDACTED):
            r.url = d.url
        for name in d.drop_headers:
            r.headers.pop(name, None)
        if d.set_referer:
            r.headers["referer"] = d.set_referer
        if d.drop_cookies and "cookie" in r.headers:
            kept = without_cookies(r.headers["cookie"], d.drop_cookies)
            if kept:
                r.headers["cookie"] = kept
            else:
                del r.headers["cookie"]
        if size is None or size > BODY_HOLD:
            note.streamed = StreamedBody(
                r.headers.get("content-type", ""), r.headers.get("content-encoding", "")
            )
            r.stream = _Gate(self.shared, flow, note, self._record)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """An allowed tracker whose identifiers were removed sets no cookie to identify the person again."""
        note = note_of(flow)
        if note is not None and note.decision.action is Action.REDACTED and flow.response is not None:
            flow.response.headers.pop("set-cookie", None)

    def request(self, flow: http.HTTPFlow) -> None:
        note = note_of(flow)
        if note is not None and not note.recorded and self.shared.pipeline is not None:
            guarded("body check", self._finish, flow, note)

    def _finish(self, flow: http.HTTPFlow, note: FlowNote) -> None:
        r = flow.request
        if note.streamed is not None:
            # It passed: one the gate stopped was recorded by the gate and ended there (proxy/stopped_uploads.py).
            self._record(note, note.decision)
            # Its middle went unread: said once an hour per client and host, in doctor, check and the UI.
            streamed, req = note.streamed, note.request
            if streamed.unread and self._unread.due((req.client, req.host)):
                detail = relays.unread_note(streamed.size, streamed.unread, streamed.encoded)
                self.shared.recorder.body_unread(req, detail)
            return
        body = view_of(
            r.raw_content, r.headers.get("content-type", ""), r.headers.get("content-encoding", "")
        )
        d = note.decision
        if not d.stopped and not d.redirect:
            assert self.shared.pipeline is not None
            d = self.shared.pipeline.decide_body(note.request, d, body)
            if d.stopped:
                flow.response = responses.answer(note.request, d)
            elif d.body is not None:
                # An allowed tracker's body without its identifiers (mitmproxy re-encodes it as it came).
                r.content = d.body
        note.decision = d
        self._record(note, self._describe(note, body), nbytes=body.size if d.stopped else 0)

    def _describe(self, note: FlowNote, body: Any) -> Decision:
        assert self.shared.pipeline is not None
        note.decision = self.shared.pipeline.describe(note.request, note.decision, body)
        return note.decision

    def _record(self, note: FlowNote, d: Decision, nbytes: int = 0) -> None:
        if not note.recorded:
            note.recorded = True
            self.shared.recorder.request(note.request, d, nbytes=nbytes)
            if d.stopped and d.reason is not None and d.reason.stage == "schema" and self.submit is not None:
                self._learn_path(note.request, d.reason.rule or "a collection protocol")

    def _learn_path(self, req: RequestModel, protocol: str) -> None:
        learned = self.shared.schema_learner.match(req.host, req.url, protocol)
        if learned is not None and self.submit is not None:
            self.submit(self._write_path, req.host, learned.evidence, learned.path)

    def _write_path(self, host: str, evidence: str, path: str) -> None:
        from pixelguard import lists

        try:
            lists.add_learned_path(self.shared.cfg.learned_list, host, evidence, path)
            log.info("pixelguard: learned %s%s (%s)", host, path, evidence)
        except Exception as e:
            failed("writing a learned rule", e)
        if self.wake is not None:
            self.wake()


class _Gate:
    """``flow.request.stream`` for a big body of a request that passed: holds what it has not yet judged.

    mitmproxy calls it with each chunk and finally with b""; it returns the chunks to send (a list, never b"",
    which HTTP/1 chunked encoding would send as the end of the body)."""

    def __init__(
        self,
        shared: Shared,
        flow: http.HTTPFlow,
        note: FlowNote,
        record: Callable[[FlowNote, Decision, int], None],
    ):
        self.shared, self.flow, self.note, self.record = shared, flow, note, record
        assert note.streamed is not None
        self.body: StreamedBody = note.streamed
        self.held = bytearray()
        self.head_judged = False
        self.stopped = False
        self.broken = False

    def __call__(self, data: bytes) -> list[bytes]:
        if self.stopped:
            return []
        if self.broken:
            return [data] if data else []
        try:
            return self._feed(data)
        except Exception as e:  # fail open, but only for pixelguard's own bugs
            failed("streamed body check", e)
            self.broken = True
            out, self.held = bytes(self.held) + data, bytearray()
            return [out] if out else []

    def _feed(self, data: bytes) -> list[bytes]:
        end = data == b""
        self.body.feed(data)
        self.held += data
        if not self.head_judged:
            if not self.body.head_full and not end:
                return []  # nothing leaves before the head is read
            self.head_judged = True
            if self._stops(complete=end):
                return []
        if end:
            if self.body.tail and self._stops(complete=True):
                return []
            out, self.held = bytes(self.held), bytearray()
            return [out] if out else []
        if len(self.held) > BODY_TAIL:
            cut = len(self.held) - BODY_TAIL
            out = bytes(self.held[:cut])
            del self.held[:cut]
            return [out]
        return []

    def _stops(self, complete: bool) -> bool:
        pipeline = self.shared.pipeline
        assert pipeline is not None
        view = self.body.view(complete)
        d = pipeline.decide_body(self.note.request, self.note.decision, view)
        if not d.stopped:
            return False
        self.stopped = True
        # Recorded now: the request ends here (proxy/stopped_uploads.py), its `request` hook never comes. What
        # never left: the rest of the body as announced (else what came of it and was held back).
        sent = self.body.size - len(self.held)
        declared = body_size(self.flow.request)
        self.held = bytearray()
        self.note.decision = pipeline.describe(self.note.request, d, view)
        self.record(self.note, self.note.decision, max(0, (declared or self.body.size) - sent))
        self.flow.kill()
        return True
