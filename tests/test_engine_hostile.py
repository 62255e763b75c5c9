"""Hostile URLs cannot slow the engine down: time stays linear in the URL, whatever the URL and the rule.

A page chooses its URLs, so it can choose the worst one for every rule of every list. Two claims, measured on the
real lists of ../shared (each time is the best of five with the garbage collector held off):
- a 100 KB URL repeating any word is checked by the engine holding every list within the bound;
- every wildcard and regex rule of those lists, given a 16 KB URL built to make it work hardest (its first part
  repeated, all but its last part repeated, one character repeated), answers within the bound.

The budget is 5 ms (measured 0.1-5.2 ms on a shared 2-core VM; `pytest -s` prints each figure against it). The
assertion is ten times that: wall-clock time on a busy machine must not fail the suite, and what the test is
for, matching that grows faster than the URL, took 20 s on such a URL before the engine was made linear.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Iterator

import pytest
from shared_data import shared_path

from pixelguard.engine import Engine
from pixelguard.engine import index as ix
from pixelguard.engine import rules as R
from pixelguard.engine.request import Request

LISTS = ("easylist", "easyprivacy", "ubo-filters.min", "ubo-privacy.min", "fanboy-social", "adaway-hosts")
BUDGET_S = 0.005  # the figure, printed
BOUND_S = 10 * BUDGET_S  # asserted: catches superlinear matching, not a loaded machine


def report(what: str, took: float) -> None:
    print(f"{what}: {took * 1000:.2f} ms{'' if took < BUDGET_S else ' (over the 5 ms budget)'}")


def best_of_3(fn: Callable[[], object], collect: bool = True) -> float:
    """The best of several timings with the garbage collector held off: the bound is about the algorithm, and a
    collection of the rest of the suite's garbage landing in one call is not."""
    best = float("inf")
    if collect:
        gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(5 if collect else 3):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    finally:
        if was:
            gc.enable()
    return best


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_files([shared_path("filterlists", f"{n}.txt") for n in LISTS])


WORDS = [
    "ads_",
    "a",
    "%",
    "/",
    "ad.",
    "track",
    "-",
    "=",
    "&a=",
    "http://",
    "?",
    "^",
    "*",
    "ad",
    "%2f",
    "pixel.",
]


@pytest.mark.parametrize("word", WORDS)
def test_100_kb_url_repeating_a_word(engine: Engine, word: str) -> None:
    url = "https://example.com/" + word * (100_000 // len(word))
    for rtype in ("image", "script", "document"):
        took = best_of_3(lambda rtype=rtype: engine.check(url, "https://news.example/", rtype))
        report(f"{word!r} x {len(url)} as {rtype}", took)
        assert took < BOUND_S, f"{word!r} x {len(url)} as {rtype}: {took * 1000:.1f} ms"


@pytest.mark.parametrize(
    "url",
    [
        "https://" + "a." * 50_000 + "example.com/",  # 100 KB of host labels
        "https://" + "a" * 100_000 + ".com/",
        "https://example.com/?" + "&".join(f"p{i}=v{i}" for i in range(12_000)),  # many distinct tokens
        "https://[" + ":" * 100_000 + "]/",
    ],
)
def test_100_kb_url_of_other_shapes(engine: Engine, url: str) -> None:
    took = best_of_3(lambda: engine.check(url, url, "image"))
    report(f"{url[:40]}... ({len(url)})", took)
    assert took < BOUND_S, f"{url[:40]}... ({len(url)}): {took * 1000:.1f} ms"


def _rules() -> Iterator[ix.RuleT]:
    for name in LISTS:
        for line in shared_path("filterlists", f"{name}.txt").read_text().split("\n"):
            out = R.parse_line(line.strip())
            if isinstance(out, list):
                for r in out:
                    if r.kind in (R.WILD, R.AFTER_WILD, R.REGEX):
                        yield ix.rule_tuple(r, 0, 0)


def _worst_urls(r: ix.RuleT, size: int = 16_384) -> list[str]:
    """URLs that make rule r's matcher work hardest: many starts of its first part and no final match."""
    if r.kind == R.REGEX:
        pieces = R.regex_literals(r.pattern) or ["a"]
    else:
        pieces = [p for p in re.split(r"[*^|]", r.pattern) if p] or ["a"]
    head = "https://example.com/"
    fill = [pieces[0], "".join(pieces[:-1]) or pieces[0], "a", "/"]
    return [(head + f * (size // len(f) + 1))[:size] for f in fill]


def test_every_wildcard_and_regex_rule_is_linear_on_a_16_kb_url() -> None:
    worst = (0.0, "")
    checked = 0
    for r in _rules():
        for url in _worst_urls(r):
            req = Request(url, "https://news.example/", "script")
            took = best_of_3(lambda r=r, req=req: ix.match_end(r, req), collect=False)
            if took > worst[0]:
                worst = (took, r.text)
        checked += 1
    assert checked > 2000, "the lists shrank: are these the right files?"
    report(f"worst of {checked} wildcard and regex rules on 16 KB URLs, {worst[1]!r}", worst[0])
    assert worst[0] < BOUND_S, f"{worst[1]!r}: {worst[0] * 1000:.1f} ms on a 16 KB URL"


@pytest.mark.parametrize(
    "rule",
    [
        "foo********bar*baz",  # a run of * is one *
        "*a*a*a*a*a*a*a*a*a*a*a*a*b",
        "||example.com^*a*a*a*a*a*b|",
        "a^a^a^a^a^*b",
        "/(a+)+b/",  # RE2: linear whatever the pattern
        "/(a|aa)*c/",
        "/^(a|a?)+$/",
    ],
)
def test_patterns_that_backtrack_elsewhere_are_linear_here(rule: str) -> None:
    e = Engine.from_text(rule)
    assert e.rule_count == 1
    for url in ("https://example.com/" + "a" * 16_384, "https://example.com/" + "a^" * 8192):
        took = best_of_3(lambda url=url: e.check(url, None, "image"))
        report(f"{rule!r} on {len(url)} characters", took)
        assert took < BOUND_S, f"{rule!r}: {took * 1000:.1f} ms"


def test_a_regex_that_needs_backtracking_is_refused_with_its_reason() -> None:
    e = Engine.from_text("/(a+)+(?=b)/\n/^(?=x)https?:\\/\\/ok\\./\n")
    assert e.rule_count == 1  # the anchored lookahead is safe; the nested quantifier is not
    assert e.errors and "could backtrack" in e.errors[0] and e.errors[0].startswith("inline:1:")


def test_a_big_hosts_file_costs_a_bounded_amount_of_memory_per_rule() -> None:
    # A 60 MB hosts file (about 2.5 million lines) used to peak near 3 GB while the engine was built: each
    # line became a Rule, then a 15-field tuple in a list under its host (about 940 bytes a line at the peak,
    # 460 kept). Plain host rules are now kept as one int under their host.
    import random
    import string
    import tracemalloc

    rnd = random.Random(7)
    n = 50_000
    text = "\n".join(
        f"0.0.0.0 {''.join(rnd.choices(string.ascii_lowercase, k=10))}.example" for _ in range(n)
    )
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        e = Engine.from_text(text, "big")
        kept, peak = (m - base for m in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    print(f"{n} hosts lines: {kept / n:.0f} bytes a rule kept, {peak / n:.0f} at the peak of the build")
    assert e.rule_count == n
    assert kept / n < 250 and peak / n < 450


def test_a_many_label_host_costs_a_bounded_amount_of_memory(engine: Engine) -> None:
    # A 30 KB host of one-letter labels once kept its 15,000 suffixes (each up to 30 KB long) alive for the
    # request: about 215 MB. Hosts are matched on their last 253 characters, as DNS names are at most that long.
    import tracemalloc

    host = "a." * 15_000 + "tracker.example"
    url = f"https://{host}/p.gif"
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for page in ("https://news.example/", f"https://{host}/"):
            engine.check(url, page, "image")
            engine.check(url, page, "document")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    print(f"many-label host of {len(host)} characters: {peak / 1e6:.2f} MB at the peak")
    assert peak < 20_000_000  # linear in the URL (its tokens, its lower-cased copy), never per label
