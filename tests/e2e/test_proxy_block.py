"""A real `pixelguard run` between a client and a local origin: what is blocked never reaches the origin,
what passes is byte-identical, 1x1 images of every format are replaced, over HTTP and HTTPS."""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Certs, Origin, Proxy, fetch, start_proxy, wait_for, write_config
from imagedata import BUILDERS, CONTENT_TYPES

from pixelguard.decision.pipeline import REFUSED_TUNNEL
from pixelguard.proxy.responses import TRANSPARENT_GIF

pytestmark = pytest.mark.e2e

LIST = """! test list
/track/*
||tracker.test^
/ads/banner.js
/track/page$document
"""


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, confdir: Path, certs: Certs) -> Iterator[Proxy]:
    home = tmp_path_factory.mktemp("blockproxy")
    # learn_after high: this module checks detection, not learning (test_proxy_reload.py does).
    config = write_config(home, {"testlist": LIST}, extra="pixels: {learn_after: 1000}\n")
    p = start_proxy(home, config, confdir, certs)
    yield p
    assert p.stop() == 0, p.log()


def unique(prefix: str) -> str:
    return f"{prefix}{time.monotonic_ns()}"


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_blocked_request_never_reaches_the_origin(proxy: Proxy, origin: Origin, https: bool) -> None:
    path = f"/track/{unique('p')}.gif"
    origin.serve(path, BUILDERS["png"](300, 250), "image/png")
    r = proxy.get(origin.url(path + "?uid=42", https), {"Accept": "image/avif,image/webp,*/*"})
    assert r.status == 200
    assert r.body == TRANSPARENT_GIF
    assert r.headers["Content-Type"] == "image/gif"
    assert r.headers["Cache-Control"] == "no-store"
    assert origin.hits[path] == 0
    # The same path on an unlisted prefix does reach it: the origin and the counting work.
    other = path.replace("/track/", "/ok/")
    origin.serve(other, b"x", "text/plain")
    assert proxy.get(origin.url(other, https)).body == b"x"
    assert origin.hits[other] == 1
    scheme = "https" if https else "http"
    rows = wait_for(lambda: proxy.events(url=origin.url(path + "?uid=42", https)), what="the event row")
    assert rows[0]["reason"] == "filter" and rows[0]["action"] == "blocked"
    assert rows[0]["rule"] == "/track/*" and rows[0]["list"] == "testlist" and rows[0]["line"] == 2
    assert rows[0]["type"] == "image" and rows[0]["url"].startswith(scheme)


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("spelling", ["/tr%61ck/{}", "/%74rack/{}", "/x/%2e%2E/track/{}", "/%2e/track/{}"])
def test_another_spelling_of_a_blocked_path_is_blocked_too(
    proxy: Proxy, origin: Origin, https: bool, spelling: str
) -> None:
    # The origin, like most servers, would serve /track/NAME for any of these spellings; the request is sent
    # as written (http.client keeps escapes), as Firefox, a mail client or an app would send it.
    name = f"{unique('s')}.gif"
    origin.serve(f"/track/{name}", BUILDERS["png"](300, 250), "image/png")
    r = proxy.get(origin.url(spelling.format(name), https), {"Accept": "image/*"})
    assert r.body == TRANSPARENT_GIF and r.headers.get("X-Pixelguard") == "blocked"
    assert not any(name in path for _, path, _ in origin.requests)
    rows = wait_for(lambda: proxy.events(url=origin.url(spelling.format(name), https)), what="the event row")
    assert rows[0]["rule"] == "/track/*"  # recorded as sent, decided as the server reads it


@pytest.mark.parametrize(
    ("headers", "path", "status", "ctype"),
    [
        ({"Sec-Fetch-Dest": "script"}, "/track/t.js", 200, "application/javascript"),
        ({"Accept": "text/css,*/*;q=0.1"}, "/track/t.css", 200, "text/css"),
        ({}, "/ads/banner.js", 200, "application/javascript"),
        ({"Sec-Fetch-Dest": "empty"}, "/track/collect", 204, None),
        ({}, "/track/beacon", 204, None),
    ],
)
def test_local_answer_per_type(
    proxy: Proxy, origin: Origin, headers: dict, path: str, status: int, ctype: str | None
) -> None:
    r = proxy.get(origin.url(path), headers)
    assert (r.status, r.body) == (status, b"")
    assert r.headers.get("Content-Type") == ctype
    assert r.headers["Cache-Control"] == "no-store"
    assert origin.hits[path] == 0


def test_blocked_document_explains_and_escapes(proxy: Proxy, origin: Origin) -> None:
    # A page load is blocked only by a rule meant for pages (uBO): /track/* alone would not block it.
    url = origin.url("/track/page?q=<script>alert(1)</script>")
    r = proxy.get(url, {"Sec-Fetch-Dest": "document", "Accept": "text/html"})
    page = r.body.decode()
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "/track/page$document" in page and "testlist:5" in page
    assert "pixelguard allow 127.0.0.1" in page
    assert origin.hits["/track/page"] == 0


def test_hostname_rule_blocks_without_any_connection(proxy: Proxy) -> None:
    # tracker.test does not resolve: only a local answer can produce a 200 here.
    r = proxy.get("http://tracker.test/pixel.gif?e=open", {"Accept": "image/*"})
    assert r.status == 200 and r.body == TRANSPARENT_GIF


def test_a_host_blocked_whole_gets_its_tunnel_refused_before_any_handshake(proxy: Proxy) -> None:
    """Every request to tracker.test is blocked, so the CONNECT is answered 403 and no TLS is spoken: the client
    never sees a forged certificate (this one would fail to verify against nothing: no CA is given)."""
    with pytest.raises(OSError, match="403"):
        fetch("https://tracker.test/pixel.gif", proxy.port, context=ssl.create_default_context())
    rows = wait_for(lambda: proxy.events(host="tracker.test", reason="host"), what="the event row")
    assert rows[0]["action"] == "blocked" and rows[0]["rule"] == "||tracker.test^"
    assert rows[0]["detail"] == REFUSED_TUNNEL


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("application/octet-stream", os.urandom(200_000)),
        ("text/html; charset=utf-8", "<html><body>héllo</body></html>".encode()),
        ("application/json", b'{"a": [1, 2, 3]}'),
        ("image/png", BUILDERS["png"](300, 250)),
    ],
    ids=["binary", "html", "json", "png300x250"],
)
def test_allowed_traffic_is_byte_identical(
    proxy: Proxy, origin: Origin, https: bool, ctype: str, body: bytes
) -> None:
    path = f"/ok/{unique('b')}"
    origin.serve(path, body, ctype, ("Set-Cookie", "sid=abc; Path=/"), ("X-Origin", "yes"))
    r = proxy.get(origin.url(path, https))
    assert r.status == 200
    assert r.body == body
    assert r.headers["Content-Type"] == ctype
    assert r.headers["Set-Cookie"] == "sid=abc; Path=/"
    assert r.headers["X-Origin"] == "yes"
    assert "X-Pixelguard" not in r.headers
    assert origin.hits[path] == 1


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_a_server_named_by_its_host_name_is_looked_up_and_reached(
    proxy: Proxy, origin: Origin, https: bool
) -> None:
    """The proxy looks server names up itself (through proxy/address_cache.py, which keeps the answer): the
    requests after the first reach the origin from the kept answer, and a connection that fails is answered 502
    while the next one, to where the server is, gets through."""
    path = f"/ok/{unique('n')}"
    origin.serve(path, b"named", "text/plain")
    for _ in range(3):
        r = proxy.get(origin.url(path, https, host="localhost"))
        assert (r.status, r.body) == (200, b"named")
    assert origin.hits[path] == 3
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]  # bound, never listening: a connection to it is refused
    try:
        scheme = "https" if https else "http"
        assert proxy.get(f"{scheme}://localhost:{port}{path}").status == 502
    finally:
        closed.close()
    assert proxy.get(origin.url(path, https, host="localhost")).body == b"named"
    assert origin.hits[path] == 4


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_one_pixel_images_are_replaced_and_lose_their_cookie(
    proxy: Proxy, origin: Origin, fmt: str, https: bool
) -> None:
    path = f"/img/{unique(fmt)}"
    origin.serve(path, BUILDERS[fmt](1, 1), CONTENT_TYPES[fmt], ("Set-Cookie", "uid=123; Max-Age=31536000"))
    url = origin.url(path + "?m=1", https)
    r = proxy.get(url, {"Referer": "http://news.example/"})
    assert origin.hits[path] == 1  # not on any list: fetched, then caught by its size
    assert r.status == 200
    assert r.body == TRANSPARENT_GIF
    assert r.headers["Content-Type"] == "image/gif"
    assert "Set-Cookie" not in r.headers
    rows = wait_for(lambda: proxy.events(url=url), what="the pixel event")
    assert rows[0]["reason"] == "pixel" and rows[0]["action"] == "replaced"
    assert rows[0]["detail"] == f"1x1 {fmt}" and rows[0]["site"] == "news.example"


def test_pixel_without_image_content_type_is_sniffed(proxy: Proxy, origin: Origin) -> None:
    path = f"/img/{unique('sniff')}"
    origin.serve(path, BUILDERS["gif"](1, 1), "application/octet-stream", ("Set-Cookie", "a=b"))
    r = proxy.get(origin.url(path))
    assert r.body == TRANSPARENT_GIF and "Set-Cookie" not in r.headers


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_big_and_truncated_images_pass_untouched(proxy: Proxy, origin: Origin, https: bool) -> None:
    for name, body in (
        ("big", BUILDERS["gif"](300, 250)),
        ("truncated", BUILDERS["png"](1, 1)[:20]),
        ("truncated-gif", b"GIF89a\x01"),
    ):
        path = f"/img/{unique(name)}"
        origin.serve(path, body, "image/png", ("Set-Cookie", "keep=1"))
        r = proxy.get(origin.url(path, https))
        assert (r.status, r.body, r.headers["Set-Cookie"]) == (200, body, "keep=1"), name
