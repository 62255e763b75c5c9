"""A request's type read from its headers and, failing those, from its URL's extension: one table
(engine/resource_types.py), one rule for `.html` (with a page behind it: subdocument; without: a navigation,
document). That `check` and the proxy read it alike is tested on real requests in e2e/test_check_agrees.py."""

from __future__ import annotations

import pytest
from mitmproxy import http

from pixelguard.decision.request_model import resource_type
from pixelguard.engine import Engine
from pixelguard.engine.request import guess_type
from pixelguard.engine.resource_types import EXTENSIONS, PAGE_EXTENSIONS, from_extension

PAGE = "https://news.example/article"
# (extension, type with no page, type on a page): what a client sending no Sec-Fetch-* header is asking for.
EXPECTED = [
    ("js", "script", "script"), ("mjs", "script", "script"), ("css", "stylesheet", "stylesheet"),
    ("gif", "image", "image"), ("png", "image", "image"), ("jpg", "image", "image"), ("webp", "image", "image"),
    ("svg", "image", "image"), ("ico", "image", "image"), ("woff2", "font", "font"), ("ttf", "font", "font"),
    ("mp4", "media", "media"), ("mov", "media", "media"), ("mp3", "media", "media"),
    ("html", "document", "subdocument"), ("htm", "document", "subdocument"),
    ("jpeg", "image", "image"), ("jpe", "image", "image"), ("bmp", "image", "image"), ("avif", "image", "image"),
    ("apng", "image", "image"), ("woff", "font", "font"), ("otf", "font", "font"), ("eot", "font", "font"),
    ("webm", "media", "media"), ("ogg", "media", "media"), ("m4a", "media", "media"), ("m3u8", "media", "media"),
    ("wav", "media", "media"), ("swf", "object", "object"),
    ("unknown", "other", "other"), ("", "other", "other"),
]  # fmt: skip


@pytest.mark.parametrize(("ext", "alone", "on_a_page"), EXPECTED)
def test_the_extension_says_the_type(ext: str, alone: str, on_a_page: str) -> None:
    url = f"https://cdn.example/a/file.{ext}?v=1" if ext else "https://cdn.example/collect"
    assert resource_type(http.Headers(), url) == alone
    assert resource_type(http.Headers(referer=PAGE), url) == on_a_page


def test_every_extension_of_the_table_is_in_the_expectations() -> None:
    assert {e for e, _, _ in EXPECTED} >= set(EXTENSIONS) | set(PAGE_EXTENSIONS), "a type without a test"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Sec-Fetch-Dest": "image"}, "image"),  # what the browser says wins over the extension
        ({"Sec-Fetch-Dest": "empty"}, "xmlhttprequest"),
        ({"Accept": "text/css,*/*;q=0.1"}, "stylesheet"),
        ({"Accept": "image/avif,image/webp,*/*"}, "image"),
    ],
)
def test_headers_come_before_the_extension(headers: dict[str, str], expected: str) -> None:
    assert (
        resource_type(
            http.Headers(**{k.replace("-", "_"): v for k, v in headers.items()}), "https://a.test/x.js"
        )
        == expected
    )


@pytest.mark.parametrize(("page", "blocked"), [(None, False), (PAGE, True)])
def test_the_issue_example_through_check(page: str | None, blocked: bool) -> None:
    engine = Engine.from_text("||widgets.example^$subdocument")
    assert engine.check("https://widgets.example/embed.html", page).blocked is blocked
    headers = http.Headers(referer=page) if page else http.Headers()
    assert (resource_type(headers, "https://widgets.example/embed.html") == "subdocument") is blocked


def test_mov_is_media_everywhere() -> None:
    assert guess_type("https://v.example/clip.mov") == "media"
    assert resource_type(http.Headers(), "https://v.example/clip.mov") == "media"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Upgrade": "WebSocket"}, "websocket"),
        ({"Accept": "text/html,application/xhtml+xml"}, "document"),
        ({"Accept": "application/xhtml+xml;q=0.9, */*"}, "document"),
        ({"Accept": "image/png, text/html"}, "image"),  # the first kind asked for
        ({"Accept": "text/html, image/png"}, "document"),
        ({"Sec-Fetch-Dest": "websocket"}, "websocket"),
    ],
)
def test_what_the_accept_and_upgrade_headers_ask_for(headers: dict[str, str], expected: str) -> None:
    assert (
        resource_type(
            http.Headers(**{k.replace("-", "_"): v for k, v in headers.items()}), "https://a.test/x"
        )
        == expected
    )


def test_the_page_is_the_referer_else_the_origin() -> None:
    from pixelguard.decision.request_model import source_url

    assert (
        source_url({"referer": "https://a.example/p", "origin": "https://b.example"}) == "https://a.example/p"
    )
    assert source_url({"origin": "https://b.example"}) == "https://b.example/"
    assert source_url({"referer": "android-app://x", "origin": "null"}) is None


def test_only_a_paths_last_segment_has_an_extension() -> None:
    """A mutation run found these edges untested (issue 23): the host's own top-level domain is no extension
    (.mov and .zip are TLDs), nor is a dot in a directory, a query or a fragment."""
    assert from_extension("https://trailer.mov", False) == "other"  # the last "/" is the scheme's
    assert from_extension("https://trailer.mov/clip.mov", False) == "media"
    assert from_extension("https://a.example/v1.2/clip", False) == "other"  # the dot is a directory's
    assert from_extension("https://a.example/x.png?y=1.js#z.css", False) == "image"
    assert from_extension("https://a.example/x?y=a.js", False) == "other"
    assert from_extension("https://a.example/x#y.js?z", False) == "other"
    assert from_extension("https://a.example/x.gif#a#b.js", False) == "image"  # the first "#" ends the path
    assert from_extension("https://a.example/x.gif?next=/b.js?c", False) == "image"  # and the first "?"
    assert guess_type("https://a.example/frame.html", has_page=True) == "subdocument"
    assert guess_type("https://a.example/frame.html", has_page=False) == "document"
    assert from_extension("clip.mov", False) == "other"  # no path at all


def test_hosts_are_lower_cased_without_their_root_dot_and_ipv6_literals_lose_their_brackets() -> None:
    from pixelguard.engine.request import normal_host, split_url

    assert normal_host("Tracker.Example.") == "tracker.example"
    assert split_url("http://[2001:DB8::1]:8080/p") == ("http", "2001:db8::1")
    assert split_url("HTTPS://CDN.Example./a") == ("https", "cdn.example")
