"""One path, any spelling: the engine matches a URL's path as a browser hands it to a blocker (engine/request.py,
canonical_url), so an escaped unreserved character carries no request past a path rule, and an exception still
applies to the same request however it is spelt. Escaped reserved characters stay data; the query stays as
browsers send it."""

from __future__ import annotations

import pytest

from benchmarks import hostile as H
from pixelguard.decision.request_model import RequestModel
from pixelguard.engine import Engine
from pixelguard.engine.request import canonical_url
from pixelguard.limits import CANONICAL_URL_MAX

ENGINE = Engine.from_text(
    "||tracker.example/collect\n/pixel.gif?\n@@||cdn.example/ok/*\n||cdn.example^$image\n", "t"
)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://t.example/coll%65ct?v=1", "https://t.example/collect?v=1"),
        ("https://t.example/%63ollect", "https://t.example/collect"),
        ("https://t.example/a%2Db%5Fc%7Ed%2Ee", "https://t.example/a-b_c~d.e"),  # the four unreserved marks
        ("https://t.example/x%41?%67a=1&id=%41", "https://t.example/xA?%67a=1&id=%41"),  # the query as sent
        # Dot segments an escape makes, or that come with one, are removed (RFC 3986 5.2.4); bare ones are left to
        # the sender, as every browser, mail client and common HTTP library removes them before sending.
        ("https://t.example/a/%2e%2E/collect", "https://t.example/collect"),
        ("https://t.example/%2e/collect", "https://t.example/collect"),
        ("https://t.example/x/y/../../coll%65ct", "https://t.example/collect"),
        ("https://t.example/../../coll%65ct", "https://t.example/collect"),  # never past the root
        ("https://t.example/a/%2e", "https://t.example/a/"),
        ("https://t.example/a/b/%2e%2e", "https://t.example/a/"),
        ("https://t.example:8443/%2e/c", "https://t.example:8443/c"),
        ("https://t.example/x/../collect", "https://t.example/x/../collect"),
        # Left as sent: reserved characters (data), non-ASCII bytes, a bad escape, the fragment, the host, and
        # dots that are part of a name.
        ("https://t.example/a%2Fb%3Dc%25", "https://t.example/a%2Fb%3Dc%25"),
        ("https://t.example/%D1%85", "https://t.example/%D1%85"),
        ("https://t.example/%zz%4", "https://t.example/%zz%4"),
        ("https://t.example/x#%61/../b", "https://t.example/x#%61/../b"),
        ("https://tr%61cker.example/", "https://tr%61cker.example/"),
        ("https://t.example/.well-known/a..b/.c", "https://t.example/.well-known/a..b/.c"),
        ("https://t.example/?next=/../x", "https://t.example/?next=/../x"),
    ],
)
def test_canonical_url(given: str, canonical: str) -> None:
    assert canonical_url(given) == canonical


def test_a_url_with_nothing_to_change_is_returned_as_it_is() -> None:
    url = "https://t.example/path/file.js?a=1"
    assert canonical_url(url) is url


@pytest.mark.parametrize(
    "url",
    [
        "https://tracker.example/coll%65ct",
        "https://tracker.example/%43OLLECT",  # rules are case-blind, and so is the decoding
        "https://tracker.example/a/%2e%2e/collect",
        "https://tracker.example/%2e/collect?x=1",
        "https://site.example/img/pixel%2Egif?id=1",
        "https://site.example/img/pix%65l.gif?id=1",
    ],
)
def test_another_spelling_is_blocked_as_the_plain_one(url: str) -> None:
    assert ENGINE.check(url, "https://news.example/", "image").blocked
    # And through the request model the proxy and `pixelguard check` build.
    assert ENGINE.decide(RequestModel.from_url(url, resource="image").engine).blocked


def test_an_exception_applies_however_the_request_is_spelt() -> None:
    for url in (
        "https://cdn.example/ok/a.png",
        "https://cdn.example/%6Fk/a.png",
        "https://cdn.example/x/%2e%2e/ok/a.png",
    ):
        assert not ENGINE.check(url, "https://news.example/", "image").blocked, url
    assert ENGINE.check("https://cdn.example/other/a.png", "https://news.example/", "image").blocked


def test_a_path_longer_than_any_server_takes_is_matched_as_sent() -> None:
    short = (
        "https://tracker.example/coll%65ct?x=" + "%41" * CANONICAL_URL_MAX
    )  # a long query: the path is undone
    assert canonical_url(short).startswith("https://tracker.example/collect?x=%41")
    assert ENGINE.check(short, None, "image").blocked
    long = "https://t.example/" + "%41" * CANONICAL_URL_MAX
    assert canonical_url(long) is long


@pytest.mark.parametrize(
    "url",
    [
        # The longest paths undone (CANONICAL_URL_MAX), and a long query, which is left as sent.
        "https://t.example/" + "%41" * (CANONICAL_URL_MAX // 3 - 8),
        "https://t.example/?" + "%41" * 33_000,
        "https://t.example/" + "a/%2e%2e/" * (CANONICAL_URL_MAX // 9 - 3),
        "https://t.example/" + "%2e%2e/" * (CANONICAL_URL_MAX // 7 - 3) + "x",
    ],
)
def test_hostile_urls_are_undone_within_the_budget(url: str) -> None:
    # As tests/test_engine_hostile.py bounds the engine: ten times the budget, which linear work stays far under.
    assert (len(url) > 16_000 and canonical_url(url) != url) or "?" in url
    took = H.best_time(lambda: canonical_url(url), rounds=3)
    assert took < 10 * H.BUDGET_S, f"{url[:30]}...: {took * 1000:.1f} ms"
