"""Local answers for blocked requests: the page keeps working, the tracker never hears of it.

Images get a transparent 1x1 GIF (a broken-image icon would be visible in mail), scripts and styles an empty
body of their type (no console errors, no waiting), a top-level page says what was blocked and how to allow
it, everything else 204. ``Cache-Control: no-store`` on all of them, so an allow rule takes effect at once.
"""

from __future__ import annotations

import html

from mitmproxy import http

from pixelguard.decision.decision import Action, Decision
from pixelguard.decision.request_model import RequestModel
from pixelguard.invocation import cmd

# The smallest transparent GIF89a: 1x1, one transparent colour.
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

# The header that marks what pixelguard answered or changed (its value says what: blocked, cleaned, replaced...).
MARK = "X-Pixelguard"
BASE_HEADERS = {"Cache-Control": "no-store", MARK: "blocked"}

_EMPTY_TYPES = {
    "script": "application/javascript",
    "stylesheet": "text/css",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blocked by pixelguard</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;padding:0 1em;color:#222}}
code{{background:#f2f2f2;padding:.1em .3em;word-break:break-all}}</style></head>
<body><h1>Blocked by pixelguard</h1>
<p>This page was not loaded, because it matched a filter rule:</p>
<p><code>{url}</code></p>
<p>Rule <code>{rule}</code> from <code>{where}</code>.</p>
<p>To allow <code>{domain}</code>, run:</p>
<pre><code>{allow} {domain}</code></pre>
<p>The running proxy picks up the change within a second; reload this page.</p>
</body></html>
"""


def gif() -> http.Response:
    return http.Response.make(200, TRANSPARENT_GIF, {**BASE_HEADERS, "Content-Type": "image/gif"})


def blocked(
    resource_type: str, url: str, host: str, rule: str | None, list_name: str | None, line: int | None
) -> http.Response:
    """The local answer for a request of ``resource_type`` blocked by ``rule`` (list:line)."""
    if resource_type == "image":
        return gif()
    if resource_type in _EMPTY_TYPES:
        return http.Response.make(200, b"", {**BASE_HEADERS, "Content-Type": _EMPTY_TYPES[resource_type]})
    if resource_type in ("document", "subdocument"):
        return http.Response.make(
            200,
            block_page(url, host, rule, list_name, line),
            {**BASE_HEADERS, "Content-Type": "text/html; charset=utf-8"},
        )
    return http.Response.make(204, b"", BASE_HEADERS)


def block_page(url: str, host: str, rule: str | None, list_name: str | None, line: int | None) -> bytes:
    where = f"{list_name}:{line}" if list_name and line else (list_name or "?")
    text = _PAGE.format(
        url=html.escape(url),
        rule=html.escape(rule or "?"),
        where=html.escape(where),
        domain=html.escape(host),
        allow=html.escape(cmd("allow")),
    )
    return text.encode("utf-8")


def forbidden_connect(host: str, rule: str | None) -> http.Response:
    """Hosts-only mode: refuse the CONNECT tunnel to a tracker host."""
    body = f"pixelguard: {host} is blocked by {rule or 'a filter rule'}\n".encode()
    return http.Response.make(403, body, {**BASE_HEADERS, "Content-Type": "text/plain; charset=utf-8"})


def answer(req: RequestModel, d: Decision) -> http.Response | None:
    """The local answer a Decision calls for (None when the request goes upstream)."""
    if d.action is Action.BLOCKED:
        r = d.reason
        if r is not None and r.stage == "leak":
            return blocked(req.type, req.url, req.host, "your identity (leak alarm)", "identity", None)
        return blocked(
            req.type, req.url, req.host, r.rule if r else None, r.list if r else None, r.line if r else None
        )
    if d.redirect and d.url:
        return http.Response.make(
            307, b"", {"Location": d.url, "Cache-Control": "no-store", MARK: str(d.action)}
        )
    return None
