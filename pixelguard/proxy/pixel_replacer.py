"""Replaces the 1x1 images the lists missed with a transparent GIF (Set-Cookie dropped), and learns their hosts.

Only small image bodies are looked at: compressed ones are inflated to their first bytes only (a compression bomb
costs nothing), streamed ones (over STREAM_LARGER_THAN) never. A host the user allowed keeps its pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mitmproxy import http

from pixelguard.decision import bodies, image_size
from pixelguard.proxy import responses
from pixelguard.proxy.flow_note import FlowNote, note_of
from pixelguard.proxy.shared import SNIFF_TYPES, Shared, failed, guarded

log = logging.getLogger(__name__)

MAX_DECODE = 64 * 1024  # compressed bodies are only looked at when this small: a pixel is tens of bytes


class PixelReplacer:
    def __init__(self, shared: Shared, submit: Callable[..., None], wake: Callable[[], None]):
        self.shared = shared
        self.submit = submit  # learned rules are written off the event loop, by the parent's file thread
        self.wake = wake  # tells the reloader a learned rule is on disk

    def response(self, flow: http.HTTPFlow) -> None:
        if not flow.response or flow.error:
            return
        note = note_of(flow)
        if note is not None and note.passed and not note.decision.allowed:
            guarded("pixel check", self._response, flow, note)

    def _response(self, flow: http.HTTPFlow, note: FlowNote) -> None:
        sh = self.shared
        resp = flow.response
        assert resp is not None and sh.pipeline is not None
        ctype = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not (ctype.startswith("image/") or ctype in SNIFF_TYPES):
            return
        raw = resp.raw_content  # None when streamed: no pixel is that big
        if not raw:
            return
        data: bytes | None = raw
        encoding = resp.headers.get("content-encoding", "identity")
        if encoding.strip().lower() not in ("identity", ""):
            if len(raw) > MAX_DECODE:
                return
            # Only the first bytes are inflated, incrementally: a compression bomb costs nothing here.
            data = bodies.head(raw, encoding, image_size.HEADER_LIMIT)
            if data is None:
                return
        req = note.request
        size = image_size.dimensions(data or b"")
        if size is None:
            return
        if not image_size.within(size, sh.cfg.pixels.max_width, sh.cfg.pixels.max_height):
            sh.learner.real_image(req.host)  # a host that serves pictures is never learned whole
            return
        if sh.pipeline.keeps_pixels(req):
            return  # allowed or trusted by the user: its pixels stay too
        resp.headers.pop("content-encoding", None)
        resp.headers.pop("set-cookie", None)
        resp.content = responses.TRANSPARENT_GIF
        resp.headers["content-type"] = "image/gif"
        resp.headers[responses.MARK] = "replaced"
        note.replaced = f"{size.width}x{size.height} {size.format}"
        sh.recorder.pixel(req, note.replaced, len(raw))
        learned = sh.learner.sighting(req.host, req.site, req.url)
        if learned:
            with sh.learn_lock:
                sh.pending_learned[req.host] = learned.prefix
            self.submit(self._write_learned, req.host, learned.evidence, learned.prefix)

    def _write_learned(self, host: str, evidence: str, prefix: str) -> None:
        from pixelguard import lists

        sh = self.shared
        try:
            lists.add_learned(sh.cfg.learned_list, host, evidence, prefix)
            log.info("pixelguard: learned %s (%s)", lists.learned_rule(host, prefix), evidence)
        except Exception as e:
            failed("writing a learned rule", e)
        with sh.learn_lock:
            sh.written_learned.add(host)
        self.wake()
