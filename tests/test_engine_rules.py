"""Table-driven semantics of every rule feature the engine supports: (rules, request, expected verdict)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pixelguard.engine import Engine, Verdict
from pixelguard.engine import engine as engine_module
from pixelguard.engine import rules as R
from pixelguard.engine.request import Request, domain_of, guess_type, host_info, site_of
from pixelguard.limits import MAX_HOST

PAGE = "https://news.example/article"
# (rules, url, source_url, type, blocked)
CASES = [
    # anchors, separator, wildcard
    ("||ads.example^", "https://ads.example/x.gif", PAGE, "image", True),
    ("||ads.example^", "https://cdn.ads.example:8443/x", PAGE, "image", True),
    ("||ads.example^", "https://ads.example.net/x", PAGE, "image", False),
    ("||ads.example^", "https://badads.example/x", PAGE, "image", False),
    ("||ads.example^", "https://site.example/?u=https://ads.example/", PAGE, "image", False),
    ("||ads.example/pixel", "https://www.ads.example/pixel.gif", PAGE, "image", True),
    (
        "||[2001:db8::1]^",
        "http://[2001:db8::1]/pixel.gif",
        PAGE,
        "image",
        True,
    ),  # IPv6: the address, no brackets
    ("||[2001:db8::1]^", "http://[2001:db8::11]/pixel.gif", PAGE, "image", False),
    ("||[2001:db8::1]/pixel", "http://[2001:db8::1]/pixel.gif", PAGE, "image", True),  # the rest follows "]"
    ("||[2001:db8::1]/pixel", "http://[2001:db8::1]:8080/pixel.gif", PAGE, "image", False),
    ("||[2001:db8::1]:8080/pixel", "http://[2001:db8::1]:8080/pixel.gif", PAGE, "image", True),
    ("||ads.example/pixel", "https://www.ads.example/other/pixel.gif", PAGE, "image", False),
    ("|https://t.example/", "https://t.example/p", PAGE, "image", True),
    ("|https://t.example/", "http://x.example/?https://t.example/", PAGE, "image", False),
    (".gif|", "https://x.example/a.gif", PAGE, "image", True),
    (".gif|", "https://x.example/a.gif?x", PAGE, "image", False),
    ("/track^", "https://x.example/track?id=1", PAGE, "image", True),
    ("/track^", "https://x.example/track", PAGE, "image", True),
    ("/track^", "https://x.example/tracking", PAGE, "image", False),
    ("/banner/*/img", "https://x.example/banner/a/b/img", PAGE, "image", True),
    ("/banner/*/img", "https://x.example/banner/img", PAGE, "image", False),
    (r"/\/pixel\d+\.gif/", "https://x.example/pixel42.gif", PAGE, "image", True),
    (r"/\/pixel\d+\.gif/", "https://x.example/pixelx.gif", PAGE, "image", False),
    (r"/\/ad\Dimg/", "https://x.example/AD-IMG", PAGE, "image", True),  # \D keeps its case; the rest does not
    ("/a*b^c|", "https://x.example/a/b/c", PAGE, "image", True),  # a last part with ^ ends the URL
    ("/a*b^c|", "https://x.example/a/b/cd", PAGE, "image", False),
    ("/a*b|", "https://x.example/ab", PAGE, "image", True),  # the last part right where the one before ends
    ("/ab*b^|", "https://x.example/ab/", PAGE, "image", False),  # ... but not inside it
    ("||x.example/a*zz*c", "https://x.example/a/c?zz", PAGE, "image", False),  # each part in its order
    ("||x.example/a*zz*c", "https://x.example/a/zz/c", PAGE, "image", True),
    ("http*/track", "https://x.example/track", PAGE, "image", True),  # a first part at the URL's very start
    # || with a wildcard: the first part starts the host or follows one of the host's dots, not a path's
    ("||trk*^pixel", "https://t.example/a.trk/pixel", PAGE, "image", False),
    ("||trk*^pixel", "https://cdn.trk.example/a/pixel", PAGE, "image", True),
    ("||trk*^pixel*gif", "https://trk.example/a.gif", PAGE, "image", False),  # every part, the middle one too
    ("||trk*^pixel*gif", "https://trk.example/pixel.gif", PAGE, "image", True),
    ("||tr*/pixel", "https://ab.example/x/pixel", PAGE, "image", False),
    ("||t.ex^p|", "https://t.ex/p", PAGE, "image", True),  # one part, to the URL's end
    ("||t.ex^p|", "https://t.ex/pq", PAGE, "image", False),
    ("||t.ex^p|", "https://a.t.ex/p", PAGE, "image", True),
    ("/ad.js$~image,~script", "https://x.example/ad.js", PAGE, "script", False),  # each negation counts
    ("/ad.js$~image,~script", "https://x.example/ad.js", PAGE, "image", False),
    ("/ad.js$~image,~script", "https://x.example/ad.js", PAGE, "xmlhttprequest", True),
    ("||t.example/x", "https://t.example./x", PAGE, "image", True),  # the root dot is not part of the host
    ("||site.example/", "https://site.example/", None, "document", True),  # ends right after the host (uBO)
    # A rule typed for something else is no typeless rule: it neither blocks a page load nor lets one through.
    ("||t.example^$other,important", "https://t.example/", None, "document", False),
    # a typeless rule found second among the candidates
    ("||t.example^$other\n||t.example^$first-party", "https://t.example/", None, "document", True),
    ("||t.example/a", "https://t.example/a", None, "document", False),  # ends past the host: no strict block
    # the last part ends the URL after the one before, not inside it
    ("/ab*b|", "https://x.example/ab", PAGE, "image", False),
    ("/ab*b|", "https://x.example/abb", PAGE, "image", True),
    ("/ads*banner", "https://x.example/adsxbanner", PAGE, "image", True),
    # three rules for one host share a bucket
    ("||t.example/a\n||t.example/b\n||t.example/c", "https://t.example/c", PAGE, "image", True),
    ("||t.example^\n@@||t.example^$other", "https://t.example/", None, "document", True),
    # a block rule of type document is not a document exception: the site's other requests are still judged
    (
        "||site.example^$document\n||tracker.example^",
        "https://tracker.example/p",
        "https://site.example/",
        "image",
        True,
    ),
    ("||t.example^$method=get", "https://t.example/p", PAGE, "image", True),
    # case: insensitive unless $match-case
    ("/Track.gif", "https://x.example/TRACK.GIF", PAGE, "image", True),
    ("/Track.gif$match-case", "https://x.example/track.gif", PAGE, "image", False),
    ("/Track.gif$match-case", "https://x.example/Track.gif", PAGE, "image", True),
    # party
    ("||t.example^$third-party", "https://t.example/p", PAGE, "image", True),
    ("||t.example^$third-party", "https://t.example/p", "https://www.t.example/", "image", False),
    ("||t.example^$3p", "https://t.example/p", PAGE, "image", True),
    ("||t.example^$~third-party", "https://t.example/p", PAGE, "image", False),
    ("||t.example^$first-party", "https://t.example/p", "https://t.example/", "image", True),
    ("||t.example^$1p", "https://t.example/p", PAGE, "image", False),
    ("||t.example^$~first-party", "https://t.example/p", PAGE, "image", True),
    ("||t.example^$third-party", "https://t.example/p", None, "image", True),  # page unknown: as Brave
    # $domain= with ~ and |
    ("/ad.js$domain=news.example|blog.example", "https://c.example/ad.js", PAGE, "script", True),
    (
        "/ad.js$domain=news.example|blog.example",
        "https://c.example/ad.js",
        "https://m.news.example/",
        "script",
        True,
    ),
    (
        "/ad.js$domain=news.example|blog.example",
        "https://c.example/ad.js",
        "https://other.example/",
        "script",
        False,
    ),
    ("/ad.js$domain=news.example|blog.example", "https://c.example/ad.js", None, "script", False),
    ("/ad.js$domain=~news.example", "https://c.example/ad.js", PAGE, "script", False),
    ("/ad.js$domain=~news.example", "https://c.example/ad.js", "https://other.example/", "script", True),
    (
        "/ad.js$domain=news.example|~m.news.example",
        "https://c.example/ad.js",
        "https://m.news.example/",
        "script",
        False,
    ),
    ("/ad.js$domain=google.*", "https://c.example/ad.js", "https://www.google.co.uk/", "script", True),
    ("/ad.js$domain=google.*", "https://c.example/ad.js", "https://google.example.org/", "script", False),
    # resource types, negations, aliases, unknown → other
    ("||t.example^$image", "https://t.example/p", PAGE, "image", True),
    ("||t.example^$image", "https://t.example/p", PAGE, "script", False),
    ("||t.example^$~image", "https://t.example/p", PAGE, "image", False),
    ("||t.example^$~image", "https://t.example/p", PAGE, "script", True),
    ("||t.example^$xhr", "https://t.example/p", PAGE, "xmlhttprequest", True),
    ("||t.example^$xmlhttprequest", "https://t.example/p", PAGE, "xhr", True),
    ("||t.example^$other", "https://t.example/p", PAGE, "no-such-type", True),
    ("||t.example^$script", "https://t.example/p", PAGE, "no-such-type", False),
    ("||t.example^$ping", "https://t.example/p", PAGE, "ping", True),
    ("||t.example^$websocket", "wss://t.example/p", PAGE, "websocket", True),
    ("||t.example^$font,media", "https://t.example/p", PAGE, "media", True),
    ("||t.example^$stylesheet", "https://t.example/p", PAGE, "stylesheet", True),
    ("||t.example^$subdocument", "https://t.example/p", PAGE, "subdocument", True),
    ("||t.example^$object", "https://t.example/p", PAGE, "object", True),
    ("||t.example^$document", "https://t.example/", None, "document", True),
    ("||t.example^$document", "https://t.example/p.js", PAGE, "script", False),
    ("$ping,third-party", "https://any.example/p", PAGE, "ping", True),  # EasyPrivacy has this rule
    ("$ping,third-party", "https://any.example/p", PAGE, "image", False),
    # $redirect= blocks (the proxy answers with a neutral response); $redirect-rule= only names the answer for
    # requests something else blocks (uBO wiki, "Static filter syntax": redirect-rule)
    ("||t.example/a.js$script,redirect=noop.js", "https://t.example/a.js", PAGE, "script", True),
    ("||t.example/a.js$script,redirect-rule=noop.js", "https://t.example/a.js", PAGE, "script", False),
    # unsupported options skip the rule, never broaden it
    ("||t.example^$csp=script-src 'none'", "https://t.example/", PAGE, "document", False),
    ("||t.example^$removeparam=utm_source", "https://t.example/?utm_source=x", PAGE, "other", False),
    ("||t.example^$popup", "https://t.example/", PAGE, "document", False),
    ("t.example##.ad", "https://t.example/", PAGE, "document", False),
]


@pytest.mark.parametrize(("rules", "url", "source", "rtype", "blocked"), CASES)
def test_rule_semantics(rules: str, url: str, source: str | None, rtype: str, blocked: bool) -> None:
    assert Engine.from_text(rules).check(url, source, rtype).blocked is blocked


def test_verdict_names_rule_list_and_line() -> None:
    engine = Engine.from_text("! comment\n||t.example^\n", name="mine")
    assert engine.check("https://t.example/p") == Verdict(True, "||t.example^", "mine", 2)


def test_exception_overrides_block_and_is_reported() -> None:
    engine = Engine.from_text("||t.example^\n@@||t.example/ok.js$script\n")
    v = engine.check("https://t.example/ok.js", PAGE, "script")
    assert (v.blocked, v.exception, v.overridden, v.line) == (
        False,
        "@@||t.example/ok.js$script",
        "||t.example^",
        2,
    )
    assert engine.check("https://t.example/ok.js", PAGE, "image").blocked
    assert v.list == "inline"  # the exception's list


def test_a_removeparam_regex_with_no_literal_still_applies() -> None:
    e = Engine.from_text("$removeparam=/^[a-z]{2}\\d$/\n")
    got = e.removeparams("https://x.example/p?ab1=1&keep=2", PAGE, "image")
    assert [p.param for p in got] == ["/^[a-z]{2}\\d$/"]


def test_a_removeparam_regex_whose_class_starts_with_a_bracket_applies() -> None:
    # "[^]abcdef]" is one class; read as "[^]" and a literal "abcdef", the rule was looked for only in URLs
    # holding "abcdef" and never applied.
    e = Engine.from_text("$removeparam=/^[^]abcdef]xyz$/\n")
    got = e.removeparams("https://x.test/p?zxyz=1&k=2", PAGE, "image")
    assert [p.param for p in got] == ["/^[^]abcdef]xyz$/"]


def test_a_removeparam_rule_keeps_the_options_written_before_it() -> None:
    e = Engine.from_text("||t.example^$third-party,removeparam=fbclid\n")
    assert [p.param for p in e.removeparams("https://t.example/p?fbclid=1", PAGE, "image")] == ["fbclid"]
    assert e.removeparams("https://t.example/p?fbclid=1", "https://t.example/", "image") == []  # first-party
    # $badfilter written before $removeparam still disables the rule it names
    e = Engine.from_text("||t.example^$removeparam=fbclid\n||t.example^$badfilter,removeparam=fbclid\n")
    assert e.removeparams("https://t.example/p?fbclid=1", PAGE, "image") == []
    assert e.stats["inline"].skipped == {"badfilter": 1, "disabled by badfilter": 1}


@pytest.mark.parametrize(("name", "expected"), [("Image", "image"), ("IMAGE", "image"), ("XHR", "xmlhttprequest"),
                                                ("Sub_Frame", "subdocument"), ("Tracker", "other")])  # fmt: skip
def test_a_type_name_is_read_whatever_its_case(name: str, expected: str) -> None:
    assert Request("https://t.example/p", PAGE, name).type == R.TYPE_BITS[expected]


def test_parse_gives_a_skip_or_a_rule() -> None:
    assert R.parse("t.example##.ad") == R.Skip("cosmetic")
    assert isinstance(R.parse("||t.example^"), R.Rule)


def test_a_line_with_a_replacement_character_is_refused_as_not_utf8() -> None:
    e = Engine.from_text("||t.example/\ufffd^\n||u.example^\n", name="l")
    assert e.errors == ["l:1: not valid UTF-8"] and e.rule_count == 1


def test_a_host_anchor_followed_by_a_star_anchors_nothing() -> None:
    e = Engine.from_text("||*/track.gif\n")  # uBO: "||*" is "*"
    assert e.check("https://x.example/a/track.gif", PAGE, "image").blocked


def test_an_option_is_named_in_any_case_and_badfilter_finds_it() -> None:
    e = Engine.from_text(
        "||t.example^$Third-Party\n||t.example^$third-party,badfilter\n||u.example^$Third-Party\n"
    )
    assert not e.check("https://t.example/", PAGE, "image").blocked
    assert e.check("https://u.example/", PAGE, "image").blocked
    assert not e.check("https://u.example/", "https://u.example/", "image").blocked  # first-party


def test_badfilter_written_before_redirect_rule_disables_it() -> None:
    e = Engine.from_text(
        "||t.example/a.js$redirect-rule=noopjs\n||t.example/a.js$badfilter,redirect-rule=noopjs\n||t.example/a.js\n"
    )
    v = e.check("https://t.example/a.js", PAGE, "script")
    assert (v.blocked, v.redirect) == (True, None)
    assert e.stats["inline"].skipped == {"badfilter": 1, "disabled by badfilter": 1}


def test_a_url_with_a_lone_surrogate_is_still_judged() -> None:
    e = Engine.from_text("/ads/*.gif\n/ads/banner/\n")
    assert e.check("https://t.example/\udc80/ads/x.gif", PAGE, "image").blocked
    long = "https://t.example/\udc80/" + "x" * 3000 + "/ads/banner/x"  # a long URL asks its token set first
    assert e.check(long, PAGE, "image").rule == "/ads/banner/"


def test_an_exception_for_get_does_not_let_an_unknown_method_through() -> None:
    e = Engine.from_text("||t.example^\n@@||t.example^$method=get\n")
    assert e.check("https://t.example/x", PAGE, "image", "PROPFIND").blocked
    assert not e.check("https://t.example/x", PAGE, "image", "GET").blocked


def test_rules_that_can_never_match_are_skipped_with_their_reason() -> None:
    e = Engine.from_text("||m.example^$method=get|~get\n/" + "a" * 1100 + "\n||ok.example^\n", name="s")
    assert e.stats["s"].skipped == {"no method left": 1, "pattern longer than 1024 characters": 1}
    assert e.rule_count == 1


def test_cosmetic_lines_are_skipped_as_cosmetic() -> None:
    e = Engine.from_text("t.example##.ad\n##.banner\nt.example#@#.ad\n||t.example^\n", name="c")
    assert e.stats["c"].skipped == {"cosmetic": 3}
    assert e.rule_count == 1


def test_page_limited_host_rules_on_two_levels_of_a_host_are_both_found() -> None:
    # The general walk (removeparam, urlskip, page loads): a parent's rules for other pages hide nothing.
    e = Engine.from_text(
        "||cdn.t.example^$domain=news.example,removeparam=utm_x\n"
        "||t.example^$domain=other.example,removeparam=utm_y\n"
    )
    got = e.removeparams("https://cdn.t.example/x?utm_x=1&utm_y=2", PAGE, "image")
    assert [p.param for p in got] == ["utm_x"]


def test_an_important_block_wins_when_an_ordinary_block_is_found_first() -> None:
    e = Engine.from_text("||t.example/track/\n/pixel.gif$important\n@@||t.example/track/\n")
    v = e.check("https://t.example/track/pixel.gif", PAGE, "image")
    assert (v.blocked, v.rule) == (True, "/pixel.gif$important")
    assert not e.check("https://t.example/track/other.gif", PAGE, "image").blocked


@pytest.mark.parametrize("method", R.METHODS)
def test_a_method_rule_does_not_match_a_method_it_does_not_know(method: str) -> None:
    e = Engine.from_text(f"||t.example^$method={method}\n")
    assert not e.check("https://t.example/p", PAGE, "image", "PROPFIND").blocked
    assert e.check("https://t.example/p", PAGE, "image", method.upper()).blocked


def test_an_important_exception_beats_an_important_block() -> None:
    e = Engine.from_text("||t.example^$important\n@@||t.example/ok/$important\n@@||t.example^\n")
    v = e.check("https://t.example/ok/p.gif", PAGE, "image")
    assert (v.blocked, v.exception) == (False, "@@||t.example/ok/$important")
    assert e.check("https://t.example/other.gif", PAGE, "image").rule == "||t.example^$important"


def test_an_important_typeless_block_blocks_a_page_load_unless_an_important_exception_says_otherwise() -> (
    None
):
    e = Engine.from_text(
        "||t.example^$important\n@@||t.example^\n||u.example^$important\n@@||u.example^$important\n"
    )
    assert e.check("https://t.example/", None, "document").rule == "||t.example^$important"
    assert not e.check("https://u.example/", None, "document").blocked


def test_a_page_load_blocked_both_ways_is_reported_by_the_rule_that_names_documents() -> None:
    # uBO's table: with no exception either way the explicit answer (a rule typed $document) stands.
    e = Engine.from_text("||t.example^\n||t.example^$document\n")
    assert e.check("https://t.example/", None, "document").rule == "||t.example^$document"
    e = Engine.from_text("||t.example^$document\n||t.example^\n")
    assert e.check("https://t.example/", None, "document").rule == "||t.example^$document"


def test_an_important_page_block_is_checked_against_important_exceptions_that_do_not_match() -> None:
    e = Engine.from_text("||t.example^$document,important\n@@||t.example^$important,document,method=post\n")
    assert e.check("https://t.example/", None, "document").rule == "||t.example^$document,important"


def test_a_page_load_excepted_both_ways_is_reported_by_the_exception_that_names_documents() -> None:
    e = Engine.from_text("||t.example^\n@@||t.example^\n@@||t.example^$document\n")
    v = e.check("https://t.example/", None, "document")
    assert (v.blocked, v.exception) == (False, "@@||t.example^$document")


def test_a_case_sensitive_regex_does_not_match_a_non_ascii_url_by_its_case_blind_prefilter() -> None:
    e = Engine.from_text("/\\/Pixel\\.gif/$match-case\n")
    assert e.check("https://t.example/\u00e9/Pixel.gif", PAGE, "image").blocked
    assert not e.check("https://t.example/\u00e9/pixel.gif", PAGE, "image").blocked


def test_a_page_load_is_judged_with_its_method() -> None:
    e = Engine.from_text("||site.example^$document,method=post\n")
    assert e.check("https://site.example/form", None, "document", "POST").blocked
    assert not e.check("https://site.example/form", None, "document", "GET").blocked


def test_a_rule_with_no_type_left_is_skipped_and_counted() -> None:
    e = Engine.from_text("||a.example^$image,~image\n")
    assert (e.rule_count, e.stats["inline"].skipped) == (0, {"no resource type left": 1})


def test_important_beats_exception() -> None:
    engine = Engine.from_text("||t.example^$important\n@@||t.example^\n||u.example^\n@@||u.example^\n")
    assert engine.check("https://t.example/", PAGE, "image").rule == "||t.example^$important"
    assert not engine.check("https://u.example/", PAGE, "image").blocked


def test_document_exception_allows_everything_on_the_site() -> None:
    engine = Engine.from_text("||t.example^\n@@||trusted.example^$document\n")
    v = engine.check("https://t.example/p.gif", "https://www.trusted.example/page", "image")
    assert not v.blocked and v.exception == "@@||trusted.example^$document"
    assert engine.check("https://t.example/p.gif", PAGE, "image").blocked


def test_plain_exception_is_not_a_document_exception() -> None:
    engine = Engine.from_text("||t.example^\n@@||trusted.example^\n")
    assert engine.check("https://t.example/p.gif", "https://trusted.example/", "image").blocked


def test_badfilter_disables_the_rule_it_names() -> None:
    engine = Engine.from_text("||t.example^$third-party\n||t.example^$third-party,badfilter\n||u.example^\n")
    assert not engine.check("https://t.example/", PAGE, "image").blocked
    assert engine.check("https://u.example/", PAGE, "image").blocked
    assert engine.stats["inline"].skipped == {"badfilter": 1, "disabled by badfilter": 1}


def test_badfilter_disables_a_plain_host_rule_and_a_hosts_line() -> None:
    # Plain host rules are kept compactly (index.PLAIN_FLAGS); $badfilter must still find them.
    e = Engine.from_text(
        "||t.example^\n0.0.0.0 h.example\n||h.example^$badfilter\n||t.example^$badfilter\n||u.example^\n"
        "||v.example^\n"
    )
    assert not e.check("https://t.example/", PAGE, "image").blocked
    assert not e.check("https://h.example/", PAGE, "image").blocked
    assert e.check("https://u.example/", PAGE, "image").blocked
    assert e.rule_count == 2  # each disabled rule taken off its list's count, one at a time
    assert e.stats["inline"].skipped == {"badfilter": 2, "disabled by badfilter": 2}


def test_a_plain_host_rule_reports_its_list_and_line_and_blocks_every_party_and_type() -> None:
    e = Engine.from_text("! a comment\n\n127.0.0.1 one.example two.example\n||three.example^\n", name="h")
    for url, line in (("https://x.two.example/p", 3), ("http://three.example/", 4)):
        for rtype in ("image", "script", "xmlhttprequest", "other"):
            for page in (PAGE, url, None):
                v = e.check(url, page, rtype)
                assert (v.blocked, v.list, v.line) == (True, "h", line), (url, rtype, page)
    assert e.check_host("two.example").rule == "||two.example^"
    assert not e.check("https://notone.example/", PAGE, "image").blocked


def test_skips_and_errors_are_counted_with_list_and_line() -> None:
    engine = Engine.from_text("||a.example^$csp=x\nx.example##.ad\n/bad(regex/\n||ok.example^\n", name="l")
    assert engine.stats["l"].rules == 1
    assert engine.stats["l"].skipped == {"csp": 1, "cosmetic": 1, "malformed": 1}
    assert len(engine.errors) == 1 and engine.errors[0].startswith("l:3: bad regular expression")


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("//", "empty regular expression"),
        ("||a\x07.example^", "control or non-printable characters"),
        ("/bad(regex/", "bad regular expression"),
        ("||a.example^$domain=", "option 'domain=' needs a value"),
        ("||a.example^$~domain=x.example", "option '~domain=x.example' needs a value"),
        ("||a.example^$~denyallow=x.example", "bad domain list in '~denyallow=x.example'"),
        ("||a.example^$~method=post", "option '~method=post' needs a value"),
        ("@@", "empty rule"),
    ],
)
def test_a_malformed_line_says_what_is_wrong(line: str, why: str) -> None:
    engine = Engine.from_text(f"{line}\n", name="l")
    assert engine.errors and engine.errors[0].startswith(f"l:1: {why}")


def test_errors_past_the_cap_are_counted_not_listed() -> None:
    cap = engine_module.MAX_ERRORS_PER_LIST
    engine = Engine.from_text("/bad(regex/\n" * (cap + 7), name="l")
    assert len(engine.errors) == cap + 1
    assert engine.errors[-1] == "l: ... and 7 more malformed lines"


def test_a_crash_in_the_parser_names_the_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(line: str) -> R.Rule:
        raise LookupError(line)

    monkeypatch.setattr(R, "_parse", broken)
    assert R.parse_line("||a.example^") == R.Malformed(f"{R.PARSER_BUG}: LookupError")


def test_a_domain_line_keeps_its_text_as_written() -> None:
    rules = R.parse_line("Ads.Example")
    assert isinstance(rules, list) and [(r.text, r.host) for r in rules] == [("Ads.Example", "ads.example")]


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("/ads/banner$image", True),
        ("ads.example", True),
        ("0.0.0.0 ads.example", True),
        ("127.0.0.1 a.example b.example # two", True),
        ("fe80::1%lo0 t.example", True),  # a scoped IPv6 address
        ("[::] t.example", True),  # a bracketed one
        ("Not Found", False),  # two words parse as a hosts line mapping "found": prose is not a rule
        ("example.com is down", False),
        ("name,email", False),
    ],
)
def test_what_looks_like_a_rule_in_a_download(line: str, rule: bool) -> None:
    assert R.looks_like_a_rule(line) is rule


def test_host_suffixes_of_odd_hosts() -> None:
    assert host_info("") == ("", (), ())
    assert host_info(".ads.example")[1] == (".ads.example", "ads.example", "example")
    longest = ("a" * 62 + ".") * 3 + "b" * 56 + ".example"  # exactly as long as DNS allows: kept whole
    assert len(longest) == MAX_HOST and host_info(longest)[1][0] == longest


@pytest.mark.parametrize("url", ["about:blank", "data:image/gif;base64,R0lGOD", "not a url", ""])
def test_a_url_without_a_host_is_a_request_without_one(url: str) -> None:
    req = Request(url, PAGE, "image")
    assert (req.host, req.host_start, req.host_end) == ("", 0, 0)
    assert not Engine.from_text("||ads.example^\n/pixel\n").check(url, PAGE, "image").blocked


def test_a_url_of_many_tokens_is_matched_on_its_distinct_ones() -> None:
    # Past 32 tokens a URL's repeated tokens are looked up once (Request.tokens): the rule must still be found.
    url = "https://x.example/" + "/".join(["seg", "part"] * 20) + "/track/p.gif"
    e = Engine.from_text("/track/p.gif\n")
    assert len(Request(url, PAGE, "image").tokens()) < 32 < url.count("/")
    assert e.check(url, PAGE, "image").blocked


def test_a_whole_host_rule_on_an_ipv6_address_refuses_its_tunnel() -> None:
    e = Engine.from_text("||[2001:db8::1]^\n")
    assert e.blocks_whole_host("2001:db8::1").blocked  # CONNECT names the address without brackets
    assert not e.blocks_whole_host("2001:db8::2").blocked
    assert e.check_host("2001:db8::1").rule == "||[2001:db8::1]^"  # hosts-only mode too
    assert e.check_host("[2001:db8::1]").blocked and not e.check_host("2001:db8::2").blocked


@pytest.mark.parametrize(
    "line", ["# a hosts-file comment", "#", "! an ABP comment", "[Adblock Plus 2.0]", ""]
)
def test_comments(line: str) -> None:
    assert R.is_comment(line)
    e = Engine.from_text(line + "\n")
    assert (e.rule_count, e.errors) == (0, [])


def test_check_host_lets_a_page_exception_through() -> None:
    engine = Engine.from_text("||t.example^\n@@||site.example^$document\n")
    assert engine.check_host("t.example", "https://site.example/").exception == "@@||site.example^$document"
    assert engine.check_host("t.example", "https://other.example/").blocked


def test_check_host_finds_a_page_limited_rule_by_the_pages_parent_domain() -> None:
    engine = Engine.from_text("||t.example^$domain=site.example\n")
    assert (
        engine.check_host("t.example", "https://www.site.example/").rule == "||t.example^$domain=site.example"
    )
    assert not engine.check_host("t.example", "https://other.example/").blocked


def test_check_host_uses_whole_host_rules_only() -> None:
    engine = Engine.from_text(
        "||t.example^\n||p.example/pixel.gif\n||s.example^$script\n||x.example^$third-party\n@@||ok.t.example^\n"
    )
    assert engine.check_host("cdn.t.example").rule == "||t.example^"
    assert not engine.check_host("p.example").blocked
    assert not engine.check_host("s.example").blocked
    assert engine.check_host("x.example").blocked
    v = engine.check_host("ok.t.example")
    assert not v.blocked and v.exception == "@@||ok.t.example^"


def test_hosts_blocked_whole_are_counted_once_important_or_not() -> None:
    engine = Engine.from_text("||a.example^\n||b.example^$important\n||a.example^$important\n||c.example^\n")
    assert engine.whole_host_count() == 3
    assert engine.check_host("b.example").rule == "||b.example^$important"


@pytest.mark.parametrize(
    ("url", "entities"),
    [
        (
            "https://www.google.co.uk/x",
            ("www.google.*", "google.*"),
        ),  # uBO's entities: the name without its suffix
        ("https://a.b.example.com/", ("a.b.example.*", "b.example.*", "example.*")),
        ("http://localhost/x", ()),  # no public suffix, no entity
        ("http://192.168.0.1/x", ()),
        ("http://[2001:db8::1]/x", ()),
    ],
)
def test_a_request_knows_its_entities(url: str, entities: tuple[str, ...]) -> None:
    assert Request(url, None, None).entities == entities


def test_a_host_longer_than_dns_allows_is_cut_at_a_label() -> None:
    host = "a" * 100 + "." + "b" * 100 + "." + "c" * 60 + ".tracker.example"
    suffixes = Request(f"http://{host}/x", None, None).suffixes
    assert suffixes and suffixes[-1] == "example"
    assert all(host.endswith("." + s) for s in suffixes)  # each a whole label onwards, none cut in the middle


@pytest.mark.parametrize(
    ("call", "failing", "fail_open", "what"),
    [
        (lambda e: e.check("https://t.example/x?a=1", PAGE, "image"), "Request", Verdict(False), "check"),
        (lambda e: e.removeparams("https://t.example/x?a=1", PAGE, "image"), "Request", [], "removeparams"),
        (
            lambda e: e.removeparams_for(Request("https://t.example/x?a=1", PAGE)),
            "matches",
            [],
            "removeparams",
        ),
        (
            lambda e: e.urlskips_for(Request("https://t.example/x?a=1", PAGE, "document")),
            "matches",
            [],
            "urlskips",
        ),
    ],
    ids=["check", "removeparams", "removeparams_for", "urlskips_for"],  # stable ids: no lambda's address
)
def test_a_bug_in_the_matcher_fails_open_and_is_logged_with_the_url(
    call: Any,
    failing: str,
    fail_open: object,
    what: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A matcher bug must not break browsing: the request passes, and the log says which URL met it."""
    engine = Engine.from_text("||t.example^\n$removeparam=a\n||t.example^$doc,urlskip=?u\n")

    def broken(*_: object) -> None:
        raise RuntimeError("matcher bug")

    target = engine_module if failing == "Request" else engine_module.ix
    monkeypatch.setattr(target, "Request" if failing == "Request" else "matches", broken)
    with caplog.at_level(logging.ERROR, logger="pixelguard.engine.engine"):
        assert call(engine) == fail_open
    assert f"engine: {what} failed for 'https://t.example/x?a=1'" in [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(
    ("host", "site"),
    [
        ("a.b.example.co.uk", "example.co.uk"),
        ("co.uk", ""),  # a public suffix is no site
        ("x.kawasaki.jp", ""),  # "*.kawasaki.jp": every name under it is a suffix...
        ("city.kawasaki.jp", "city.kawasaki.jp"),  # ...but "!city.kawasaki.jp"
        ("www.example.xn--p1ai", "example.xn--p1ai"),  # an IDN suffix, as it arrives: punycode
        ("foo.blogspot.com", "blogspot.com"),  # the ICANN section only: a private suffix is not split
        ("a.b.unlisted-tld", "b.unlisted-tld"),  # unlisted: the PSL's default rule "*"
        ("localhost", "localhost"),  # a single label is its own site
        ("192.168.0.1", "192.168.0.1"),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_site_of_a_host_follows_the_public_suffix_list(host: str, site: str) -> None:
    assert domain_of(host) == site


def test_site_of_and_type_guess() -> None:
    assert site_of("https://a.b.example.co.uk/x") == "example.co.uk"
    assert site_of("http://127.0.0.1:8080/") == "127.0.0.1"
    assert site_of("garbage") == ""
    assert guess_type("https://x.example/a/b.JS?x=1") == "script"
    assert guess_type("https://x.example/p.gif") == "image"
    assert guess_type("https://x.example/") == "other"


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("||example.com^*/track.gif", "/track.gif"),  # the longest literal piece
        ("/pixel.gif?", "/pixel.gif?"),
        ("|https://t.example/", "https://t.example/"),
        ("@@||cdn.example^$script", ""),  # a whole-host rule: its bucket key is the host
        ("||Example.com/Beacon$match-case", "/beacon"),  # compared with the lower-cased URL
        ("/\\/ad[0-9]+\\/banner\\.gif/", "/banner.gif"),  # a regex: its longest required literal run
        ("/(foo|bar)\\.gif/", ".gif"),  # an alternation inside a group: what follows is still required
        ("/foo|bar\\.gif/", ""),  # a top-level alternation: nothing is required
        ("/zähler.gif", ""),  # non-ASCII: lower() of a whole URL may not contain lower() of a piece
    ],
)
def test_needle_is_a_literal_every_matching_url_contains(line: str, needle: str) -> None:
    from pixelguard.engine.index_keys import needle_of
    from pixelguard.engine.rules import Rule, parse

    rule = parse(line)
    assert isinstance(rule, Rule)
    assert needle_of(rule) == needle


def test_needle_does_not_hide_a_match_case_rule() -> None:
    e = Engine.from_text("||example.com/Beacon$match-case")
    assert e.check("https://example.com/Beacon?x=1", None, "image").blocked
    assert not e.check("https://example.com/beacon?x=1", None, "image").blocked


def test_page_exception_memo_answers_each_page_on_its_own() -> None:
    e = Engine.from_text("||tracker.example^\n@@||good.example^$document")
    assert not e.check("https://tracker.example/p.gif", "https://good.example/a", "image").blocked
    assert e.check("https://tracker.example/p.gif", "https://other.example/a", "image").blocked
    assert not e.check("https://tracker.example/p.gif", "https://good.example/a", "image").blocked


# Regex rules with nothing to index them by share a pool. A type with few of them tests each (the first two
# below: uBO's lists have one such rule for "other"); a type with more asks one RE2 set. Both answer the same.
POOL = """\
/^https?:\\/\\/[a-z]{8,15}\\.top\\/\\d{1,5}\\.html$/$frame,3p
/\\/[0-9a-z]{2}\\/[0-9a-f]{32}\\.js/$script,3p
/^https:\\/\\/[0-9a-f]{10}\\.[0-9a-f]{10}\\.com\\/[0-9a-f]{32}\\.js$/$script,3p
/\\/t\\/[0-9]{3}\\/[0-9]{3}\\/a[0-9]{4,9}\\.js$/$script
/^https:\\/\\/[a-z-]+\\.cdn-[a-z]\\.net\\/$/$script,xhr,3p
/devfiles\\.pages\\.dev\\/img\\/[a-zA-Z0-9]{8,}\\.jpeg/$image
"""


@pytest.mark.parametrize(
    ("url", "rtype", "rule"),
    [
        ("https://abcdefghij.top/123.html", "subdocument", 0),
        ("https://abcdefghij.top/123.html", "script", None),  # $frame only
        ("https://x.example/ab/" + "0" * 32 + ".js", "script", 1),
        ("https://0123456789.abcdef0123.com/" + "f" * 32 + ".js", "script", 2),
        ("https://s.example/t/123/456/a12345.js", "script", 3),
        ("https://a-b.cdn-x.net/", "script", 4),
        ("https://a-b.cdn-x.net/", "xmlhttprequest", 4),
        ("https://a-b.cdn-x.net/", "image", None),
        ("https://devfiles.pages.dev/img/abcdEFGH.jpeg", "image", 5),
        ("https://devfiles.pages.dev/img/abc.jpeg", "image", None),
        ("https://s.example/t/123/456/a12345.js", "image", None),
    ],
)
def test_pool_rules_answer_alike_one_by_one_and_in_a_set(url: str, rtype: str, rule: int | None) -> None:
    e = Engine.from_text(POOL)
    assert e.rule_count == 6 and not e.errors
    v = e.check(url, "https://news.example/", rtype)
    assert v.rule == (POOL.splitlines()[rule] if rule is not None else None), (url, rtype)
