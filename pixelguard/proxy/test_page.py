"""The built-in test page: ``http://pixelguard.test/`` (and ``https://``), answered by the proxy itself.

A new user who has pointed a browser (or a mail client's browser view) at the proxy opens it and sees, on one
page, whether the three things that make protection work do: the traffic goes through this proxy (they see the
page at all: ``.test`` never resolves on the internet, RFC 6761), the browser trusts pixelguard's CA (the page
loads over HTTPS, or its HTTPS image does), and the lists block a tracker (the pipeline's own answer for a Meta
Pixel request, decided here, never sent). It also says when protection is paused. Nothing of the user's is on it.
"""

from __future__ import annotations

import html
import struct
import time
import zlib

from mitmproxy import http

from pixelguard import __version__
from pixelguard.decision.request_model import RequestModel, header_map
from pixelguard.invocation import cmd
from pixelguard.proxy.responses import MARK
from pixelguard.proxy.shared import Shared, failed

HOST = "pixelguard.test"
# A tracker request as a page would make it: what the lists should block (the bundled pixelguard-ads names it).
SAMPLE = "https://www.facebook.com/tr?id=0&ev=PageView&noscript=1"


def _png(rgb: tuple[int, int, int]) -> bytes:
    """A 1x1 PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes([0, *rgb])))
        + chunk(b"IEND", b"")
    )


# The HTTPS check's image: it loads only when the browser trusts pixelguard's CA.
GREEN = _png((0, 160, 0))

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pixelguard test page</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:3em auto;padding:0 1em;color:#222}}
code{{background:#f2f2f2;padding:.1em .3em;word-break:break-all}} .ok{{color:#070}} .no{{color:#a00}}
img{{width:1em;height:1em;vertical-align:middle;border:1px solid #999}}</style></head>
<body><h1>pixelguard test page</h1>
<p class="ok">&#10003; <b>Proxy:</b> your browser goes through pixelguard {version} ({mode} mode): this page was
answered by it, and no site on the internet has this name.</p>
<p class="{tls_class}">{tls_mark} <b>HTTPS:</b> {tls}</p>
<p class="{block_class}">{block_mark} <b>Blocking:</b> {block}</p>
{paused}
</body></html>
"""


class TestPage:
    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, shared: Shared):
        self.shared = shared

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or flow.request.pretty_host.lower().rstrip(".") != HOST:
            return
        try:
            flow.response = self._answer(flow)
        except Exception as e:
            failed("test page", e)

    def _answer(self, flow: http.HTTPFlow) -> http.Response:
        path = flow.request.path.split("?", 1)[0]
        headers = {"Cache-Control": "no-store", MARK: "test-page"}
        if path == "/https-check.png":
            return http.Response.make(200, GREEN, {**headers, "Content-Type": "image/png"})
        if path != "/":
            return http.Response.make(404, b"", headers)
        body = self.page(flow.request.scheme == "https")
        return http.Response.make(200, body.encode(), {**headers, "Content-Type": "text/html; charset=utf-8"})

    def page(self, over_https: bool) -> str:
        sh = self.shared
        pipe = sh.pipeline
        e = html.escape
        if over_https:
            tls_ok, tls = (
                True,
                "this page came over HTTPS with pixelguard's certificate: your browser trusts its CA.",
            )
        elif sh.mode == "hosts-only":
            tls_ok, tls = True, "hosts-only mode does not decrypt HTTPS: no CA is needed (nor used)."
        else:
            tls_ok = False
            tls = (
                f'open <a href="https://{HOST}/">https://{HOST}/</a>. This check: '
                f'<img src="https://{HOST}/https-check.png" alt="not trusted"> (a green square: trusted). '
                f"A certificate warning there means the CA is not trusted yet: <code>{e(cmd('ca install'))}</code>."
            )
        block_ok, block = False, "the proxy is still starting."
        paused = ""
        if pipe is not None:
            req = RequestModel.from_url(
                SAMPLE, headers=header_map([("Referer", f"https://{HOST}/")]), resource="image"
            )
            d = pipe.decide(req)
            r = d.reason
            if d.paused:
                paused = (
                    f'<p class="no">&#10007; <b>Paused:</b> protection is off {e(r.detail or "") if r else ""}; '
                    f"<code>{e(cmd('resume'))}</code> turns it back on.</p>"
                )
            if d.stopped and r is not None:
                block_ok = True
                where = f" ({e(r.list)}:{r.line})" if r.list and r.line else ""
                block = (
                    f"a Meta Pixel request (<code>{e(SAMPLE)}</code>) is stopped by <code>{e(r.rule or '')}</code>"
                    f"{where}. It was decided here and never sent."
                )
            else:
                block = (
                    f"a Meta Pixel request (<code>{e(SAMPLE)}</code>) would pass: no enabled list names it. "
                    f"<code>{e(cmd('lists'))}</code> shows the lists in use."
                )
        return _PAGE.format(
            version=e(__version__),
            mode=e(sh.mode),
            tls_class="ok" if tls_ok else "no",
            tls_mark="&#10003;" if tls_ok else "?",
            tls=tls,
            block_class="ok" if block_ok else "no",
            block_mark="&#10003;" if block_ok else "&#10007;",
            block=block,
            paused=paused + f"<p><small>{time.strftime('%Y-%m-%d %H:%M:%S')}</small></p>",
        )
