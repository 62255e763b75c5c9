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
    explained = {(*_request(url, page, rtype), rtype) for _, url, page, rtype, *_ in EXPLAINED}
    unexplained = [d for d in differ if d[:3] not in explained]
    print(
        f"\n{'+'.join(names)}: both block {both} of {either} ({both / either:.4f} raw), {len(unexplained)} unexplained"
    )
    assert 1 - len(unexplained) / either >= 0.995, f"{len(unexplained)}/{either}: {unexplained[:5]}"


# (lists, url, page, type, pixelguard blocks, rule that decides, why Brave answers otherwise). A url ending in
# "…" is a prefix naming exactly one request of ../shared/requests (some are kilobytes long).
EXPLAINED = [
    (
        ("easyprivacy",),
        "http://ul1.dvtps.com/cfbc.htm?ifba=0&rurl=http%3A%2F%2Ftps10211.doubleverify.com%2Fevent.gif%3Fimpid%3D6f…",
        "http://slashdot.org/",
        "subdocument",
        True,
        "%2Fevent.gif%3F",
        "a pattern without anchors matches anywhere in the URL (ABP, uBO); Brave's token index misses this one",
    ),
    (
        ("easyprivacy",),
        "https://s.yimg.com/zz/combo?uy/build/hermes-1.0.199/csrf-updater/csrf-updater-min.js&uy/build/"
        "hermes-1.0.199/samplr/samplr-min.js&…",
        "https://www.flickr.com/",
        "other",
        True,
        "/comscore-min.js",
        "a 2 KB URL whose /comscore-min.js comes after Brave's token limit (adblock-rust tokenizes only the "
        "start of a URL); uBO and pixelguard look at the whole URL",
    ),
    (
        ("easyprivacy",),
        "https://ssl.google-analytics.com/__utm.gif?utmwv=5.6.6&…",
        "https://ssl.google-analytics.com/__utm.gif?utmwv=5.6.6&…",
        "document",
        True,
        ".google-analytics.com/",
        "uBO applies a typeless rule to a page load when its match ends at the page's host (traffic.js, "
        "validateStrictBlock); Brave applies no typeless rule to documents",
    ),
    (
        ("ubo-filters.min",),
        "http://uim.tifbs.net/js/2690.js",
        "http://www.gmx.net/",
        "script",
        True,
        "||uim.tifbs.net/js/*.js$script,redirect=noopjs,domain=gmx.*|web.de",
        "the entity gmx.* names gmx.net (uBO's entity syntax); Brave's adblock 0.6 does not match it",
    ),
    (
        tuple(LISTS),
        "http://c.amazon-adsystem.com/aax2/amzn_ads.js",
        "http://lifehacker.com/",
        "script",
        True,
        "||c.amazon-adsystem.com^",  # AdAway's `0.0.0.0 c.amazon-adsystem.com`
        "uBO's exception for lifehacker.com (`@@||amazon-adsystem.com/$script,domain=…`) is inside "
        "`!#if env_firefox`, which uBO drops on Chromium, so AdAway's hosts line blocks; Brave ignores the "
        "directive and applies the exception",
    ),
]


def _request(url: str, page: str, rtype: str) -> tuple[str, str]:
    """The full URL and page an entry of EXPLAINED names: as written, or the one request whose URL and page
    start with what comes before a trailing "…"."""
    if not url.endswith("…") and not page.endswith("…"):
        return url, page
    found = [(u, p) for u, p, t in load_requests() if t == rtype and _is(u, url) and _is(p, page)]
    assert len(found) == 1, f"{url} on {page} names {len(found)} requests"
    return found[0]


def _is(full: str, given: str) -> bool:
    return full.startswith(given[:-1]) if given.endswith("…") else full == given


@pytest.mark.parametrize(("names", "url", "page", "rtype", "blocked", "rule", "why"), EXPLAINED)
def test_explained_differences(
    names: tuple[str, ...], url: str, page: str, rtype: str, blocked: bool, rule: str | None, why: str
) -> None:
    paths = [shared_path("filterlists", f"{n}.txt") for n in names]
    url, page = _request(url, page, rtype)
    v = Engine.from_files(paths).check(url, page, rtype)
    b = brave_engine(paths).check_network_urls(url, page, rtype)
    print(
        f"\n{url} on {page} ({rtype}): pixelguard {v.blocked} by {v.rule!r}; Brave {b.matched} by {b.filter!r}"
    )
    assert v.blocked is blocked, why
    assert v.rule == rule, why
    assert b.matched is not blocked, "Brave now agrees here: the explanation is stale, remove it"
