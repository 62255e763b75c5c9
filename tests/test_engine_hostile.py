"""Hostile URLs cannot slow the engine down: time stays linear in the URL, whatever the URL and the rule.

A page chooses its URLs, so it can choose the worst one for every rule of every list. The worst cases are built
in benchmarks/hostile.py (``scripts/bench-hostile`` times them against the 5 ms budget, with Brave's engine
beside); here the same cases, on the real lists of ../shared, must stay within a bound:
- a 100 KB URL repeating any word (fixed words, and the tokens that lead to the most rules followed by each
  separator) is checked by the engine holding every list, as each resource type;
- every wildcard and regex rule of those lists, given 16 KB URLs built to make it work hardest, answers.

The bound is ten times the budget: wall-clock time on a busy machine must not fail the suite, and what the test
is for, matching that grows faster than the URL, took 20 s on such a URL before the engine was made linear.
`pytest -s` prints the worst figures against the budget.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_data import shared_path

from benchmarks import hostile as H
from pixelguard.engine import Engine, request
from pixelguard.engine import index as ix
from pixelguard.engine.request import Request

BUDGET_S = H.BUDGET_S  # the figure, printed
BOUND_S = 10 * BUDGET_S  # asserted: catches superlinear matching, not a loaded machine


def report(what: str, took: float) -> None:
    print(f"{what}: {took * 1000:.2f} ms{'' if took < BUDGET_S else ' (over the 5 ms budget)'}")


def best_of(fn: Callable[[], object], rounds: int = 5) -> float:
    gc.collect()  # the rest of the suite's garbage is not this call's cost
    return H.best_time(fn, rounds)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_files([shared_path("filterlists", f"{n}.txt") for n in H.LISTS])


def test_100_kb_url_repeating_any_word(engine: Engine) -> None:
    words = H.repeated_words(engine)
    assert len(words) > 60 and "event." in words, "the busiest tokens of the lists are among the words"
    worst = (0.0, "")
    # One collection for the whole loop: a collection walks the loaded engine (about 50 ms), and one per check made
    # 370 checks an 18 s test. Each timing holds the collector off anyway (best_time), so garbage left between
    # checks is never timed.
    gc.collect()
    for word in words:
        url = H.repeated_word_url(word)
        for rtype in H.TYPES:
            # Best of 2: the bound is ten times the budget.
            took = H.best_time(lambda url=url, rtype=rtype: engine.check(url, H.PAGE, rtype), rounds=2)
            worst = max(worst, (took, f"{word!r} x {len(url)} as {rtype}"))
    report(f"worst of {len(words)} words x {len(H.TYPES)} types, {worst[1]}", worst[0])
    assert worst[0] < BOUND_S, f"{worst[1]}: {worst[0] * 1000:.1f} ms"


@pytest.mark.parametrize("shape", range(len(H.other_shapes())))
def test_100_kb_url_of_other_shapes(engine: Engine, shape: int) -> None:
    url = H.other_shapes()[shape]
    took = best_of(lambda: engine.check(url, url, "image"))
    report(f"{url[:40]}... ({len(url)})", took)
    assert took < BOUND_S, f"{url[:40]}... ({len(url)}): {took * 1000:.1f} ms"


def test_every_wildcard_and_regex_rule_is_linear_on_a_16_kb_url() -> None:
    worst = (0.0, "")
    checked = 0
    paths = [shared_path("filterlists", f"{n}.txt") for n in H.LISTS]
    gc.collect()
    for r in H.pattern_rules(paths):
        for url in H.worst_urls_for(r):
            req = Request(url, H.PAGE, "script")
            took = H.best_time(lambda r=r, req=req: ix.match_end(r, req), rounds=3)
            worst = max(worst, (took, r.text))
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
        took = best_of(lambda url=url: e.check(url, None, "image"))
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


# A long URL's substring tests first ask its token set (request.LongUrl). That shortcut may only ever say no
# where a scan would: URLs and needles below mix token characters, separators, upper case and non-ASCII.
_ALPHABET = st.sampled_from(["a", "b", "ab", "9", "%", "/", ".", "=", "&", "-", "^", "A", "é", "\u2028", " "])


@given(
    url=st.lists(_ALPHABET, max_size=60).map("".join),
    needle=st.lists(_ALPHABET, min_size=1, max_size=8).map("".join),
    cut=st.integers(min_value=0, max_value=60),
)
@settings(max_examples=2000, derandomize=True, deadline=None)
def test_a_long_url_answers_in_as_a_scan_does(url: str, needle: str, cut: int) -> None:
    inside = url[cut : cut + len(needle)]  # a needle that is in the URL, beside one that may not be
    for n in (needle, inside):
        if n:
            assert (n in request.LongUrl(url)) == (n in url), (n, url)


def test_the_long_url_shortcut_changes_no_verdict(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.lists import load_requests

    padded = []
    for u, s, t in load_requests()[::5]:
        pad = "pad=" + "ab.cd/ef-" * (request.LONG_URL // 9 + 1)
        padded.append((u + ("&" if "?" in u else "?") + pad, s, t))
        padded.append((u.replace("://", "://" + "x" * 10 + ".", 1) + "#" + pad, s, t))
    assert all(len(u) > request.LONG_URL for u, _, _ in padded)
    fast = [engine.check(u, s, t) for u, s, t in padded]
    monkeypatch.setattr(request, "LONG_URL", 1 << 40)
    scanned = [engine.check(u, s, t) for u, s, t in padded]
    assert sum(v.blocked for v in scanned) > 100, "the padded requests should still meet the rules"
    assert fast == scanned
