"""The bounded matcher for ``/regex/`` rules, function by function (mutation testing found it reached only through
whole rules, where a changed branch rarely shows): which patterns go to RE2, which to Python's ``re`` and which
are refused and why; where a match ends, in characters, for URLs that are not ASCII; what the prefilter keeps of
a pattern with lookarounds; and which patterns of a set match."""

from __future__ import annotations

import pytest

from pixelguard.engine import bounded_regex as B


@pytest.mark.parametrize(
    ("src", "nested"),
    [
        (r"(a+)+b", True),
        (r"(a*)*", True),
        (r"(a?){2,}", True),
        (r"(?:a+(b))*", True),  # the quantifier sits before a group inside the repeated one
        (r"(ab)+c*", False),  # the group repeats, but holds no quantifier
        (r"(a+)b", False),  # a quantifier inside a group that does not repeat
        (r"(a|aa)*", True),  # alternatives that overlap split a run of a's in exponentially many ways
        (r"(a|b)*", True),  # ... and disjoint ones are not told apart (no real rule repeats one)
        (r"(a|b)c*", False),
        (r"(a\|b)*", False),  # an escaped "|" is a character
        (r"((a+)b)+", True),  # the quantifier is in a group inside the repeated one
        (r"(a\)+)", False),  # an escaped parenthesis closes nothing
        (r"\((a)+", False),
        (r"a+()+", False),  # a quantifier before the repeated group is not inside it
        (r"a+(\))+", False),  # an escaped ")" inside the repeated group closes nothing
        (r"a+()\)+", False),  # a repeated escaped ")" after a group is no group
        (r"(x{2,5})+", True),
        (r"(?:ab)+c", False),  # "(?:" opens a group: its "?" quantifies nothing
        (r"(?:a(?=b))*c", False),
        (r"(?P<n>ab)+", False),
        (r"(?:a+)+", True),
        (r"(a\(?)+", True),  # after an escaped "(" a "?" is a quantifier
        (r"(a+\(b)+", True),  # an escaped "(" inside the repeated group opens nothing
        (r"x{2}", False),
    ],
)
def test_a_repeated_group_holding_a_quantifier_is_found(src: str, nested: bool) -> None:
    assert B._nested_quantifier(src) is nested


@pytest.mark.parametrize(
    ("src", "why"),
    [
        (r"^https?://(?=x)[a-z]+/", None),  # anchored, no nesting: Python's re may run it
        (r"(?i)^https?://(?=x)", None),  # a leading (?i) is looked past
        (r"https?://(?=x)", "not anchored"),
        (r"(?i)https?://(?=x)", "not anchored"),
        (r"^(?=x)(a+)+$", "exponentially"),
        (r"^https://t\.example/(?:ab)+(?!c)", None),  # a repeated non-capturing group is no nesting
        (r"^(?=x)(a)\1", "exponentially"),  # a backreference
        (r"^(?=x)(?P<n>a)(?P=n)", "exponentially"),
    ],
)
def test_python_runs_only_what_cannot_backtrack_badly(src: str, why: str | None) -> None:
    got = B._python_safe(src)
    assert (got is None) if why is None else (got is not None and why in got)


def test_the_reasons_read_in_full() -> None:
    assert B._python_safe(r"https?://(?=x)") == (
        "regular expression needs lookaround and is not anchored at the start: it could backtrack"
    )
    assert B._python_safe(r"^(?=x)(a+)+$") == "regular expression could backtrack exponentially"


def test_re2_takes_what_it_can_and_python_the_safe_rest() -> None:
    re2_src = r"track(ing)?\.js"
    assert B.compile_search(re2_src) is not None and re2_src in B._in_re2 and B.check(re2_src) is None
    lookaround = r"^https://(?!www\.)[a-z]+\.example/"
    search = B.compile_search(lookaround)
    assert search is not None and lookaround not in B._in_re2 and B.check(lookaround) is None
    assert search("https://ads.example/x") == len("https://ads.example/")
    assert search("https://www.example/x") == -1
    assert B.compile_search(lookaround) is search  # compiled once


@pytest.mark.parametrize(
    ("src", "why"),
    [
        (r"(?<=x)(a+)+", "not anchored"),
        (r"^(?=x)(a+)+", "exponentially"),
        (r"(unclosed", "bad regular expression"),
    ],
)
def test_refused_patterns_say_why_and_match_nothing(src: str, why: str) -> None:
    assert B.compile_search(src) is None
    reason = B.check(src)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    ("src", "url", "end"),
    [
        (r"/ads?/", "https://x.example/ad/1", len("https://x.example/ad/")),
        (r"/ads?/", "https://x.example/page", -1),
        (r"é/px", "https://x.example/café/px?1", len("https://x.example/café/px")),  # characters, not bytes
        (r"px", "https://ü.example/ä/px", len("https://ü.example/ä/px")),
        (r"^https://", "https://a.example/", len("https://")),
    ],
)
def test_a_match_ends_where_its_last_character_is(src: str, url: str, end: int) -> None:
    search = B.compile_search(src)
    assert search is not None and search(url) == end


@pytest.mark.parametrize(
    ("src", "dropped"),
    [
        (r"^https://(?!www\.)[a-z]+/", r"^https://[a-z]+/"),
        (r"a(?=b)c", "ac"),
        (r"(?<=/)px(?<!x)", "px"),
        (r"a(?=(b|c))d", "ad"),  # a group inside the lookahead goes with it
        (r"a(?=[)])b", "ab"),  # a ")" in a class does not end the lookahead
        (r"a(?=\))b", "ab"),  # nor does an escaped one
        (r"a(?=[\])])b", "ab"),  # nor an escaped "]" in a class inside it
        (r"[]](?=y)z", "[]]z"),  # a class that is only "]"
        (r"[\](?=y)]z", r"[\](?=y)]z"),  # an escaped "]" does not end a class
        (r"[(?=]x", "[(?=]x"),  # "(?=" inside a class is not a lookahead
        (r"[]x](?=y)", "[]x]"),  # a class that opens with "]"
        (r"[^]x](?!y)z", "[^]x]z"),
        (r"[](?=y)]z", r"[](?=y)]z"),  # the "]" that opens it does not close it: the class holds "(?=y)"
        (r"[^](?=y)]z", r"[^](?=y)]z"),
        (r"^a(?=[])])b", "^ab"),  # inside a lookaround too, a "]" that opens a class does not close it
        (r"^a(?![^])x])b", "^ab"),
        ("x[", "x["),  # a class left open at the end (refused later) is copied, not read past
        ("x[^", "x[^"),
        (r"\(?=x", r"\(?=x"),  # an escaped parenthesis opens nothing
        (r"plain", "plain"),
    ],
)
def test_lookarounds_are_dropped_and_the_rest_kept(src: str, dropped: str) -> None:
    assert B._drop_lookarounds(src) == dropped


def test_the_prefilter_matches_at_least_what_the_rule_matches() -> None:
    assert B.prefilter(r"^https://(?!www\.)[a-z]+/", match_case=False) == r"^https://[a-z]+/"
    assert B.prefilter(r"/Track/", match_case=True) == r"(?i)/Track/"  # the set reads lower-cased URLs
    assert B.prefilter(r"(?i)/Track/", match_case=True) == r"(?i)/Track/"
    assert B.prefilter(r"/Track/", match_case=False) == r"/Track/"
    assert B.prefilter(r"(unclosed", match_case=False) is None


def test_a_refused_pattern_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """RE2 logs every pattern it cannot compile to stderr unless told not to; lists hold hundreds of them."""
    assert B.compile_search(r"pixelguard-refused(?=x)") is None
    assert capfd.readouterr().err == ""


def test_another_google_re2_is_searched_through_its_public_call() -> None:
    """Without the compiled object's private ``Match`` (another google-re2 version), the public search answers."""

    class Public:
        def __init__(self, src: str) -> None:
            self._rx = B.re2.compile(src)

        def search(self, url: str) -> object:
            return self._rx.search(url)

    search = B._re2_search(Public(r"px\d"))
    assert search("https://x.example/px1.gif") == len("https://x.example/px1")
    assert search("https://x.example/") == -1


def test_a_pattern_set_says_which_patterns_match() -> None:
    s = B.PatternSet([r"/ads?/", r"\.gif$", r"é"])
    assert sorted(s.matching("https://x.example/ad/p.gif")) == [0, 1]
    assert s.matching("https://x.example/café") == [2]
    assert s.matching("https://x.example/none") == []
    # mitmproxy decodes a path's undecodable bytes as lone surrogates: they are matched, not an error
    assert s.matching("https://x.example/\udc80.gif") == [1]
