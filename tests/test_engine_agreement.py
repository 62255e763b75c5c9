"""Agreement with Brave's engine (PyPI ``adblock``) on the real requests of ../shared, list by list.

Of the requests that either engine blocks, both must block at least 99.5%, for each list alone and for all of
them together, differences explained below aside. Every difference seen on these lists is explained below, with
pixelguard's answer asserted: where uBO and Brave differ, pixelguard follows uBO.
"""

from __future__ import annotations

import sys

import pytest
from shared_data import REPO, shared_path

from pixelguard.engine import Engine

adblock = pytest.importorskip("adblock", reason="Brave's engine (pip install '.[test]') is the peer here")

LISTS = ["easylist", "easyprivacy", "ubo-filters.min", "ubo-privacy.min", "fanboy-social", "adaway-hosts"]
SETS = [[n] for n in LISTS] + [LISTS]


sys.path.insert(0, str(REPO))  # benchmarks/ reads the same lists and requests: one loader for both

from benchmarks.lists import brave_engine, load_requests  # noqa: E402


@pytest.mark.parametrize("names", SETS, ids=["+".join(s) if len(s) < 3 else "all" for s in SETS])
def test_both_engines_block_the_same_requests(names: list[str]) -> None:
    paths = [shared_path("filterlists", f"{n}.txt") for n in names]
    ours, brave = Engine.from_files(paths), brave_engine(paths)
    either = both = 0
    differ = []
    for url, page, rtype in load_requests():
        a = ours.check(url, page, rtype).blocked
        b = brave.check_network_urls(url, page, rtype).matched
        if a or b:
            either += 1
            both += a and b
            if a != b:
                differ.append((url, page, rtype, a))
    assert either > 100
    # A difference explained below (Brave wrong, or uBO's semantics) counts as agreement; the raw share is
    # printed. ubo-filters.min alone: 170 of 171 raw (99.4%), the one being Brave's entity miss below.
    explained = {(url, page, rtype) for _, url, page, rtype, *_ in EXPLAINED}
    unexplained = [d for d in differ if d[:3] not in explained]
    print(f"\n{'+'.join(names)}: both block {both} of {either} ({both / either:.4f} raw)")
    assert 1 - len(unexplained) / either >= 0.995, f"{len(unexplained)}/{either}: {unexplained[:5]}"


# (lists, url, page, type, pixelguard blocks, rule that decides, why Brave answers otherwise)
EXPLAINED = [
    (
        "easyprivacy",
        "http://ul1.dvtps.com/cfbc.htm?ifba=0&rurl=http%3A%2F%2Ftps10211.doubleverify.com%2Fevent.gif%3Fimpid%3D6f",
        "http://slashdot.org/",
        "subdocument",
        True,
        "%2Fevent.gif%3F",
        "a pattern without anchors matches anywhere in the URL (ABP, uBO); Brave's token index misses this one",
    ),
    (
        "easyprivacy",
        "https://s.yimg.com/zz/combo?uy/build/hermes-1.0.199/csrf-updater/csrf-updater-min.js&uy/build/"
        "hermes-1.0.199/comscore/comscore-min.js",
        "https://www.flickr.com/",
        "other",
        True,
        "/comscore-min.js",
        "the same: the substring is in the query string, where Brave's tokens do not find it",
    ),
    (
        "easyprivacy",
        "https://ssl.google-analytics.com/__utm.gif?utmwv=5.6.6",
        "https://ssl.google-analytics.com/__utm.gif?utmwv=5.6.6",
        "document",
        True,
        ".google-analytics.com/",
        "uBO applies a typeless rule to a page load when its match ends at the page's host (traffic.js, "
        "validateStrictBlock); Brave applies no typeless rule to documents",
    ),
    (
        "ubo-filters.min",
        "http://uim.tifbs.net/js/2690.js",
        "http://www.gmx.net/",
        "script",
        True,
        "||uim.tifbs.net/js/*.js$script,redirect=noopjs,domain=gmx.*|web.de",
        "the entity gmx.* names gmx.net (uBO's entity syntax); Brave's adblock 0.6 does not match it",
    ),
    (
        "ubo-filters.min",
        "http://c.amazon-adsystem.com/aax2/amzn_ads.js",
        "http://lifehacker.com/",
        "script",
        False,
        None,
        "the exception for lifehacker.com is inside `!#if env_firefox`, which uBO drops on Chromium; Brave "
        "ignores the directive and applies it (with the AdAway hosts file added, both block the request)",
    ),
]


@pytest.mark.parametrize(("names", "url", "page", "rtype", "blocked", "rule", "why"), EXPLAINED)
def test_explained_differences(
    names: str, url: str, page: str, rtype: str, blocked: bool, rule: str | None, why: str
) -> None:
    v = Engine.from_files([shared_path("filterlists", f"{names}.txt")]).check(url, page, rtype)
    assert v.blocked is blocked, why
    assert v.rule == rule, why
