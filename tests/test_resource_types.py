"""`pixelguard check` and the proxy read a request's type alike: one table (engine/resource_types.py), one rule
for `.html` (with a page behind it: subdocument; without: a navigation, document)."""

from __future__ import annotations

import pytest
from mitmproxy import http

from pixelguard.decision.request import resource_type
from pixelguard.engine import Engine
from pixelguard.engine.request import guess_type
from pixelguard.engine.resource_types import EXTENSIONS, PAGE_EXTENSIONS

PAGE = "https://news.example/article"
URLS = [f"https://cdn.example/a/file.{ext}?v=1" for ext in (*EXTENSIONS, *PAGE_EXTENSIONS, "unknown")] + [
    "https://cdn.example/",
    "https://cdn.example/collect",
]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("page", [None, PAGE])
def test_check_and_proxy_agree(url: str, page: str | None) -> None:
    headers = http.Headers(referer=page) if page else http.Headers()  # a client sending no Sec-Fetch-*
    assert resource_type(headers, url) == guess_type(url, has_page=page is not None)


@pytest.mark.parametrize(("page", "blocked"), [(None, False), (PAGE, True)])
def test_the_issue_example_through_check(page: str | None, blocked: bool) -> None:
    engine = Engine.from_text("||widgets.example^$subdocument")
    assert engine.check("https://widgets.example/embed.html", page).blocked is blocked
    headers = http.Headers(referer=page) if page else http.Headers()
    assert (resource_type(headers, "https://widgets.example/embed.html") == "subdocument") is blocked


def test_mov_is_media_everywhere() -> None:
    assert guess_type("https://v.example/clip.mov") == "media"
    assert resource_type(http.Headers(), "https://v.example/clip.mov") == "media"
