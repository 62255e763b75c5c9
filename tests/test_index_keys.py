"""What the index files a rule under (engine/index_keys.py), as tables: the whole tokens every matching URL holds,
the literal runs a regex requires, and the needle a bucket tests first. Each entry is checked for soundness too:
a URL the rule matches holds every token and the needle, so that no key can hide a match."""

from __future__ import annotations

import re

import pytest

from pixelguard.engine import Engine
from pixelguard.engine.index_keys import needle_of, regex_literals, regex_tokens, tokens_of
from pixelguard.engine.rules import Rule, parse


def rule(line: str) -> Rule:
    r = parse(line)
    assert isinstance(r, Rule), r
    return r


@pytest.mark.parametrize(
    ("line", "tokens"),
    [
        ("||tracker.example^", []),  # a host rule is keyed by its host, not by tokens
        ("/pixel/track.gif?", ["pixel", "track", "gif"]),  # each run between separators
        (
            "pixel/track",
            [],
        ),  # unanchored ends may continue in the URL: "pixel" may be "xpixel", "track" "tracker"
        ("/ads/banner", ["ads"]),
        ("/ads/", []),  # /.../ is a regex: its tokens come from regex_tokens
        (
            "|https://ads.example/banner",
            ["https", "ads", "example"],
        ),  # anchored: the first run starts the URL
        ("||ads.example/banner/", ["banner"]),  # after the host: the host's own labels are its bucket
        ("/ads*banner.gif", []),  # a wildcard next to a run: it may be longer on that side
        ("/ads/*/banner/x", ["ads", "banner"]),
        ("/collect|", ["collect"]),  # an end anchor closes the last run
        ("/Track/Pixel$match-case", ["track"]),  # lower-cased, as the URL's tokens are
    ],
)
def test_tokens_are_whole_tokens_every_matching_url_holds(line: str, tokens: list[str]) -> None:
    assert tokens_of(rule(line)) == tokens


@pytest.mark.parametrize(
    ("source", "literals"),
    [
        (r"/ads/banner\.gif", ["/ads/banner.gif"]),
        (r"ads?banner", ["ad", "banner"]),  # "s?" may be absent
        (r"ads*x", ["ad", "x"]),
        (r"ads+x", ["ads", "x"]),  # "s+" keeps one s: "ads" is required; the run ends there
        (r"ab{2}c", ["a", "c"]),  # a counted repeat: the repeated character and the count are dropped
        (r"track(er)?/p", ["track", "/p"]),  # a group is skipped
        (r"track[0-9]+/p", ["track", "/p"]),  # a class is skipped
        (r"x[\]]y", ["x", "y"]),  # an escaped bracket inside a class does not end it
        (r"[]abcdef]xyz", ["xyz"]),  # a "]" first in a class is one of its characters
        (r"[^]abcdef]xyz", ["xyz"]),  # ... first after the negation too
        (r"[^a]bc", ["bc"]),
        (r"(\.foo)?bar", ["bar"]),  # an escape inside a group is skipped with it
        (r"(a[)]bcdefgh)?xyz", ["xyz"]),  # ... and a class, whose ")" closes nothing
        (r"foo|bar", []),  # a top-level alternation requires nothing
        (r"(foo|bar)\.gif", [".gif"]),  # an alternation inside a group does not
        (r"\d+px\b", ["px"]),  # \d and \b are not literals
        (r"a\/b", ["a/b"]),  # an escaped punctuation character is one
        (r"\x41bc", []),  # hex escapes, backreferences and the like: nothing is claimed
        (r"(a)\1", []),
        (r"(a(b)c)xyz", ["xyz"]),  # a group inside a group is skipped with it
        (r"^https://t\.example/", ["https://t.example/"]),
    ],
)
def test_regex_literals_are_runs_every_match_contains(source: str, literals: list[str]) -> None:
    assert regex_literals(source) == literals


@pytest.mark.parametrize(
    ("source", "tokens"),
    [
        (r"/ads/banner\.gif", ["ads", "banner"]),  # "gif" touches the run's end: it may continue
        (r"^https://t\.example/p/", ["t", "example", "p"]),
        (r"track(er)?/p", []),  # neither run holds a token with literal neighbours on both sides
        (r"foo|bar", []),
    ],
)
def test_regex_tokens_have_literal_neighbours_on_both_sides(source: str, tokens: list[str]) -> None:
    assert regex_tokens(source) == tokens


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("$removeparam=fbclid", "fbclid"),  # no pattern: the parameter's name is in every URL it cleans
        ("$removeparam=/^utm_/", "utm_"),  # a regex value: its longest literal
        ("$removeparam=~keep", ""),  # every parameter but one: nothing is known
        ("$removeparam", ""),  # every parameter
        ("||t.example/a*/pixel.gif", "t.example/a"),  # the longest piece; the host alone would say nothing
        ("||t.example^*/pixel.gif", "/pixel.gif"),
        ("||t.example^", ""),
        ("/Beacon/x", "/beacon/x"),
        ("/Beacon/", "beacon"),  # a regex: its literal run
    ],
)
def test_the_needle_is_sound_for_every_kind(line: str, needle: str) -> None:
    assert needle_of(rule(line)) == needle


@pytest.mark.parametrize(
    ("line", "url"),
    [
        ("/pixel/track.gif?", "https://x.example/pixel/track.gif?id=1"),
        ("|https://ads.example/banner", "https://ads.example/banner/1"),
        ("||ads.example/banner/", "https://www.ads.example/banner/x"),
        ("/ads/*/banner/x", "https://x.example/ads/1/2/banner/x"),
        ("/collect|", "https://x.example/g/collect"),
        ("/\\/ads\\/banner\\.gif/", "https://x.example/ads/banner.gif"),
        ("/^https:\\/\\/t\\.example\\/p\\//", "https://t.example/p/1"),
    ],
)
def test_every_key_is_in_a_url_the_rule_matches(line: str, url: str) -> None:
    r = rule(line)
    low = url.lower()
    assert Engine.from_text(line).check(url, None, "image").blocked
    assert needle_of(r) in low
    url_tokens = set(re.findall(r"[a-z0-9%]+", low))
    assert set(tokens_of(r)) <= url_tokens


def test_a_rule_is_indexed_under_its_rarest_token() -> None:
    # Three rules share "tracker", the longest token of each: under it, every URL naming "tracker" would look at
    # all three. Each is kept under the token it alone has.
    e = Engine.from_text("/tracker/a1x/*.gif\n/tracker/b2y/*.gif\n/tracker/c3z/*.gif\n")
    assert sorted(e.busiest_tokens(10)) == ["a1x", "b2y", "c3z"]
    assert e.check("https://x.example/tracker/b2y/p.gif", "https://p.example/", "image").blocked
    # a token most URLs hold ("www") is a poor key however rare it is among the rules
    assert Engine.from_text("/www/abcd/*.gif\n").busiest_tokens(5) == ["abcd"]
