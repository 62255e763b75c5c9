"""Replaces the 1x1 images the lists missed with a transparent GIF (Set-Cookie dropped), and learns their hosts.

Only small image bodies are looked at: compressed ones are inflated to their first bytes only (a compression bomb
costs nothing), streamed ones (over STREAM_LARGER_THAN) never. A host the user allowed keeps its pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mitmproxy import http

from pixelguard import compression
from pixelguard import pixels as imagesize
from pixelguard.proxy import responses
from pixelguard.proxy.state import SNIFF_TYPES, State, check_passed, destination

log = logging.getLogger(__name__)

MAX_DECODE = 64 * 1024  # compressed bodies are only looked at when this small: a pixel is tens of bytes


class PixelReplacer:
    def __init__(self, state: State, submit: Callable[..., None], wake: Callable[[], None]):
        self.state = state
        self.submit = submit  # learned rules are written off the event loop, by the parent's file thread
        self.wake = wake  # tells the reloader a learned rule is on disk

    def response(self, flow: http.HTTPFlow) -> None:
        if not flow.response or flow.error:
            return
        check_passed(flow, "pixel check", self._response)

    def _response(self, flow: http.HTTPFlow, meta: dict) -> None:
        if meta.get("allowed"):
            return  # allowed by the user: its pixels stay too
        st = self.state
        resp = flow.response
        assert resp is not None
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
            data = compression.head(raw, encoding, imagesize.HEADER_LIMIT)
            if data is None:
                return
        url, host = destination(flow.request)
        size = imagesize.dimensions(data or b"")
        if size is None:
            return
        if not imagesize.within(size, st.cfg.pixels.max_width, st.cfg.pixels.max_height):
            st.learner.real_image(host)  # a host that serves pictures is never learned whole
            return
        # Allowed or trusted by the user: its pixels stay too (the engine looks exceptions up only for requests
        # a rule blocks, so ask it here, for the few responses that are pixels).
        if st.engine.allowed(url, meta.get("source"), meta["type"]).exception:
            return
        resp.headers.pop("content-encoding", None)
        resp.headers.pop("set-cookie", None)
        resp.content = responses.TRANSPARENT_GIF
        resp.headers["content-type"] = "image/gif"
        resp.headers["x-pixelguard"] = "replaced"
        detail = f"{size.width}x{size.height} {size.format}"
        meta.update(replaced=detail)
        st.event(flow, url, host, meta["site"], meta["type"], "pixel", "replaced", None, len(raw), detail)
        st.writer.count(seen=0, stopped=1)
        learned = st.learner.sighting(host, meta["site"], url)
        if learned:
            with st.learn_lock:
                st.pending_learned[host] = learned.prefix
            self.submit(self._write_learned, host, learned.evidence, learned.prefix)

    def _write_learned(self, host: str, evidence: str, prefix: str) -> None:
        from pixelguard import lists

        st = self.state
        try:
            lists.add_learned(st.cfg.learned_list, host, evidence, prefix)
            log.info("pixelguard: learned %s (%s)", lists.learned_rule(host, prefix), evidence)
        except Exception:
            log.exception("pixelguard: cannot write learned rule for %s", host)
        with st.learn_lock:
            st.written_learned.add(host)
        self.wake()
