"""Every list format and network option people subscribe to, read as its authors mean it.

Sources of the semantics: uBO's wiki "Static filter syntax" and its parser (src/js/static-filtering-parser.js,
static-net-filtering.js, traffic.js), AdGuard's knowledge base ("How to create your own ad filters"), ABP's
docs. Examples marked "real" are lines of the lists in ../shared (uBO filters and privacy, EasyList).
"""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import serve_http
from shared_data import shared_path

from pixelguard.config import ListSpec
from pixelguard.engine import Engine, preprocess

PAGE = "https://news.example/article"

# --- hosts files and domain lists --------------------------------------------------------------------------

HOSTS_CASES = [
    # (line, url, blocked)
    ("0.0.0.0 tracker.example", "https://tracker.example/x.gif", True),
    ("0.0.0.0 tracker.example", "https://cdn.tracker.example/x.gif", True),
    ("0.0.0.0 tracker.example", "https://hosttracker.example/x.gif", False),
    ("0.0.0.0 tracker.example", "https://site.example/?r=tracker.example", False),
    ("127.0.0.1 tracker.example", "https://tracker.example/", True),
    (":: tracker.example", "https://tracker.example/", True),
    ("::1 tracker.example", "https://tracker.example/", True),
    ("0.0.0.0\ttracker.example", "https://tracker.example/", True),
    ("0.0.0.0 \t tracker.example   # ad server", "https://tracker.example/", True),
    (
        "0.0.0.0 tracker.example # not b.example # x",
        "https://b.example/",
        False,
    ),  # the first # ends the names
    ("0.0.0.0 Tracker.Example", "https://tracker.example/", True),
    ("0.0.0.0 tracker.example.", "https://tracker.example/", True),  # the root dot
    ("0.0.0.0 localhost tracker.example", "https://tracker.example/", True),  # a local name first
    ("0.0.0.0 one.example two.example", "https://two.example/", True),
    ("127.0.0.1 localhost", "https://localhost/", False),
    ("::1 ip6-localhost ip6-loopback", "https://ip6-localhost/", False),
    ("255.255.255.255 broadcasthost", "https://broadcasthost/", False),
    # plain domain lists (Pi-hole, AdGuard Home): a line that is a domain is ||domain^
    ("gator.com", "https://gator.com/", True),
    ("gator.com", "https://www.gator.com/", True),
    ("gator.com", "https://hostgator.com/", False),  # was a substring rule
    ("media.net", "https://s4.reutersmedia.net/x.js", False),
    ("media.net", "https://contextual.media.net/x.js", True),
]


@pytest.mark.parametrize(("line", "url", "blocked"), HOSTS_CASES)
def test_hosts_and_domain_lines(line: str, url: str, blocked: bool) -> None:
    assert Engine.from_text(line).check(url, PAGE, "script").blocked is blocked


def test_local_names_are_counted_not_blocked() -> None:
    e = Engine.from_text(
        "127.0.0.1 localhost\n::1 localhost\n0.0.0.0 0.0.0.0\n0.0.0.0 ads.example\n", name="h"
    )
    assert e.stats["h"].rules == 1
    assert e.stats["h"].skipped == {"hosts line for a local name": 3}


def test_a_single_word_keeps_its_abp_substring_meaning() -> None:
    # uBO reads a dotless word (`adv`) as a hostname too; ABP's docs use `adv` as a substring example and no
    # domain list has dotless names, so pixelguard keeps ABP's and Brave's reading for words without a dot.
    assert Engine.from_text("adv").check("http://example.com/advert.html", PAGE, "subdocument").blocked


def test_the_real_adaway_hosts_file() -> None:
    e = Engine.from_files([shared_path("filterlists", "adaway-hosts.txt")])
    assert e.stats["adaway-hosts"].rules > 7000
    assert e.stats["adaway-hosts"].skipped.get("malformed", 0) == 0
    v = e.check("https://15.taboola.com/libtrc/x.js", PAGE, "script")
    # Reported as the rule it means (as uBO's logger shows a hosts line), at the line that says it.
    assert v.blocked and v.rule == "||15.taboola.com^"
    text = shared_path("filterlists", "adaway-hosts.txt").read_text().split("\n")
    assert v.line is not None and text[v.line - 1].split()[1:] == ["15.taboola.com"]
    assert e.check_host("15.taboola.com").blocked  # hosts-only mode uses them too


# --- network options ---------------------------------------------------------------------------------------

# (rule, url, page, type, method, blocked); "real" marks a line of the lists in ../shared
OPTION_CASES = [
    # $redirect= blocks; $redirect-rule= names an answer only (real, uBO filters)
    (
        "*/fuckadblock-$script,redirect=fuckadblock.js-3.2.0:5",
        "https://x.example/fuckadblock-3.js",
        PAGE,
        "script",
        "GET",
        True,
    ),
    (
        "*$script,domain=aranzulla.it,redirect-rule=noopjs",
        "https://cdn.example/a.js",
        "https://aranzulla.it/",
        "script",
        "GET",
        False,
    ),
    # $important (real)
    (
        "||static.clmbtech.com^$script,important,domain=indiatimes.com",
        "https://static.clmbtech.com/a.js",
        "https://indiatimes.com/",
        "script",
        "GET",
        True,
    ),
    # $denyallow= (real): every third-party script except those domains
    (
        "*$script,3p,denyallow=googleapis.com,domain=skidrowcodexgames.com",
        "https://evil.example/a.js",
        "https://skidrowcodexgames.com/",
        "script",
        "GET",
        True,
    ),
    (
        "*$script,3p,denyallow=googleapis.com,domain=skidrowcodexgames.com",
        "https://ajax.googleapis.com/a.js",
        "https://skidrowcodexgames.com/",
        "script",
        "GET",
        False,
    ),
    (
        "*$script,3p,denyallow=googleapis.com,domain=skidrowcodexgames.com",
        "https://evil.example/a.js",
        PAGE,
        "script",
        "GET",
        False,
    ),
    # $to= with negation and $from= (real)
    (
        "*$script,3p,from=ovagames.com,to=~facebook.net|~fbcdn.net",
        "https://ads.example/a.js",
        "https://ovagames.com/",
        "script",
        "GET",
        True,
    ),
    (
        "*$script,3p,from=ovagames.com,to=~facebook.net|~fbcdn.net",
        "https://connect.facebook.net/a.js",
        "https://ovagames.com/",
        "script",
        "GET",
        False,
    ),
    ("||cdn.example^$to=cdn.example", "https://cdn.example/a.js", PAGE, "script", "GET", True),
    ("*$image,to=tracker.*", "https://px.tracker.co.uk/p.gif", PAGE, "image", "GET", True),
    ("*$image,to=tracker.*", "https://px.other.co.uk/p.gif", PAGE, "image", "GET", False),
    # $method= (real: HEAD probes)
    (
        "||com/|$xhr,3p,method=head,domain=dlhd.*",
        "https://x.com/",
        "https://dlhd.so/",
        "xmlhttprequest",
        "HEAD",
        True,
    ),
    (
        "||com/|$xhr,3p,method=head,domain=dlhd.*",
        "https://x.com/",
        "https://dlhd.so/",
        "xmlhttprequest",
        "GET",
        False,
    ),
    ("||t.example^$method=~get", "https://t.example/", PAGE, "xmlhttprequest", "POST", True),
    ("||t.example^$method=~get", "https://t.example/", PAGE, "xmlhttprequest", "GET", False),
    # type aliases (real)
    ("||x.shopsavvy.com^$3p", "https://x.shopsavvy.com/a", PAGE, "image", "GET", True),
    ("||t.example^$1p", "https://t.example/a", "https://t.example/", "image", "GET", True),
    ("||t.example^$1p", "https://t.example/a", PAGE, "image", "GET", False),
    ("||t.example^$xhr", "https://t.example/a", PAGE, "xmlhttprequest", "GET", True),
    ("||t.example^$frame", "https://t.example/a", PAGE, "subdocument", "GET", True),
    ("||t.example^$css", "https://t.example/a", PAGE, "stylesheet", "GET", True),
    ("||t.example^$doc", "https://t.example/", None, "document", "GET", True),
    # $all: every network type and the page itself (real)
    ("||topblockchainsolutions.*^$all", "https://topblockchainsolutions.com/", None, "document", "GET", True),
    (
        "||topblockchainsolutions.*^$all",
        "https://topblockchainsolutions.com/a.js",
        PAGE,
        "script",
        "GET",
        True,
    ),
    # reason= is informational (real)
    ("||adjust.com^$doc,reason=tracker", "https://adjust.com/", None, "document", "GET", True),
    # $popup / $popunder: a proxy cannot tell a popup; loaded and counted, never blocking (real)
    (
        "*$popunder,domain=realgfporn.com",
        "https://ads.example/",
        "https://realgfporn.com/",
        "document",
        "GET",
        False,
    ),
    (
        "||bit.ly^$popup,domain=eurogamer.net",
        "https://bit.ly/x",
        "https://eurogamer.net/",
        "document",
        "GET",
        False,
    ),
    # options a proxy cannot honour: skipped and counted, never broadened (real)
    ("||rule34.top^$csp=sandbox allow-forms", "https://rule34.top/", None, "document", "GET", False),
    (
        '||www.youtube.com/playlist?list=$xhr,1p,replace=/"adPlacements"/"no_ads"/',
        "https://www.youtube.com/playlist?list=1",
        "https://www.youtube.com/",
        "xmlhttprequest",
        "GET",
        False,
    ),
    ("*$permissions=idle-detection=(),from=~localhost", "https://a.example/", None, "document", "GET", False),
    ("||t.example^$header=x-request-id", "https://t.example/a.js", PAGE, "script", "GET", False),
    ("@@||tvtoday.de^$ghide", "https://tvtoday.de/", None, "document", "GET", False),
    # $removeparam= is its own class: it never blocks (real)
    (
        "||htlb.casalemedia.com^$removeparam=r,domain=aternos.org",
        "https://htlb.casalemedia.com/?r=1",
        "https://aternos.org/",
        "script",
        "GET",
        False,
    ),
    # $match-case (real)
    (
        "/\\/uploads\\/2025/\\d{2}\\/[0-9a-z]{6,12}\\.jpg$/$image,match-case,1p,domain=igg-games.com",
        "https://igg-games.com/uploads/2025/11/abcdef.jpg",
        "https://igg-games.com/",
        "image",
        "GET",
        True,
    ),
    (
        "/\\/uploads\\/2025/\\d{2}\\/[0-9a-z]{6,12}\\.jpg$/$image,match-case,1p,domain=igg-games.com",
        "https://igg-games.com/UPLOADS/2025/11/abcdef.jpg",
        "https://igg-games.com/",
        "image",
        "GET",
        False,
    ),
    # $badfilter (real): cancels the rule it repeats
    (
        "||namethatporn.com/assets/imgs/1x1.gif\n||namethatporn.com/assets/imgs/1x1.gif$badfilter",
        "https://namethatporn.com/assets/imgs/1x1.gif",
        PAGE,
        "image",
        "GET",
        False,
    ),
    # entity domains site.* in $domain=
    ("/ad.js$domain=google.*", "https://c.example/ad.js", "https://www.google.de/", "script", "GET", True),
]


@pytest.mark.parametrize(("rules", "url", "page", "rtype", "method", "blocked"), OPTION_CASES)
def test_option_semantics(
    rules: str, url: str, page: str | None, rtype: str, method: str, blocked: bool
) -> None:
    assert Engine.from_text(rules).check(url, page, rtype, method).blocked is blocked


def test_skips_are_counted_by_name() -> None:
    text = "\n".join(
        [
            "||a.example^$csp=script-src 'none'",
            "||a.example^$replace=/a/b/",
            "||a.example^$header=x",
            "*$permissions=idle-detection=()",
            "||bit.ly^$popup",
            "*$popunder,domain=x.example",
            "example.com##.ad",
            "@@||a.example^$ghide",
            "||a.example^$newoption",
        ]
    )
    e = Engine.from_text(text, name="l")
    assert e.stats["l"].rules == 0
    assert e.stats["l"].skipped == {
        "csp": 1,
        "replace": 1,
        "header": 1,
        "permissions": 1,
        "popup": 2,
        "cosmetic": 2,
        "unknown option newoption": 1,
    }


def test_redirect_names_the_answer() -> None:
    e = Engine.from_text(
        "||a.example/x.js$script,redirect=noop.js\n||b.example^$image\n||b.example^$image,redirect-rule=1x1.gif\n"
    )
    assert e.check("https://a.example/x.js", PAGE, "script").redirect == "noop.js"
    assert e.check("https://b.example/p", PAGE, "image").blocked
    assert e.redirect("https://b.example/p", PAGE, "image") == "1x1.gif"
    assert e.redirect("https://c.example/p", PAGE, "image") is None


def test_redirect_rule_exception_cancels_the_redirect_not_the_block() -> None:
    # real, uBO filters: gpt.js stays blocked on athlonsports.com; only the neutral replacement is cancelled
    e = Engine.from_text(
        "||securepubads.g.doubleclick.net^\n"
        "||securepubads.g.doubleclick.net/tag/js/gpt.js$script,redirect-rule=googletagservices_gpt.js\n"
        "@@||securepubads.g.doubleclick.net/tag/js/gpt.js$redirect-rule,domain=athlonsports.com\n"
    )
    url, page = "https://securepubads.g.doubleclick.net/tag/js/gpt.js", "https://athlonsports.com/"
    assert e.check(url, page, "script").blocked
    assert e.redirect(url, page, "script") is None
    assert e.redirect(url, "https://other.example/", "script") == "googletagservices_gpt.js"


def test_removeparam_rules_are_exposed_to_the_proxy() -> None:
    e = Engine.from_text(
        "$removeparam=fbclid\n$removeparam=/^utm_/\n@@||keep.example^$removeparam=fbclid\n", name="p"
    )
    got = e.removeparams("https://shop.example/?fbclid=1&utm_source=x", PAGE, "document")
    assert [(p.param, p.list, p.line) for p in got] == [("fbclid", "p", 1), ("/^utm_/", "p", 2)]
    assert [p.param for p in e.removeparams("https://keep.example/?fbclid=1&utm_a=2", PAGE, "document")] == [
        "/^utm_/"
    ]
    assert e.removeparams("https://shop.example/", PAGE, "document") == []
    assert not e.check("https://shop.example/?fbclid=1", PAGE, "document").blocked


# --- page loads (documents) ---------------------------------------------------------------------------------

DOCUMENT_CASES = [
    # (rules, page url, blocked): uBO applies a typeless rule to a page load only when it names the host
    ("/exoclick.", "http://exoclick.com/", False),  # the example: a generic rule
    ("/exoclick.\n||exoclick.com^", "http://exoclick.com/", True),
    ("||exoclick.com^$third-party", "http://exoclick.com/", False),  # a page is first-party to itself
    ("||exoclick.com/ads/", "http://exoclick.com/ads/", False),  # a path: not the whole site
    ("||exoclick.com^$document", "http://exoclick.com/ads/", True),  # explicit
    ("||exoclick.com^\n@@||exoclick.com^", "http://exoclick.com/", False),  # a typeless exception
    ("||exoclick.com^$document\n@@||www.exoclick.com^", "http://www.exoclick.com/", False),
    ("||exoclick.com^$document,important\n@@||exoclick.com^", "http://exoclick.com/", True),
    ("||exoclick.com^$image", "http://exoclick.com/", False),
    (".exoclick.com/", "http://www.exoclick.com/", True),  # ends right after the host: uBO blocks it
    ("http://exoclick.com", "http://exoclick.com/", True),  # a plain substring that ends with the host
    ("||exoclick.com^|", "http://exoclick.com/", True),  # a separator and the end: one past the host
    ("||exoclick.com^$other", "http://exoclick.com/", False),  # typed "other", not typeless
]


@pytest.mark.parametrize(("rules", "url", "blocked"), DOCUMENT_CASES)
def test_page_loads_follow_ubo(rules: str, url: str, blocked: bool) -> None:
    assert Engine.from_text(rules).check(url, "https://referrer.example/", "document").blocked is blocked


def test_a_page_excepted_by_a_typeless_exception_names_the_block_it_overrides() -> None:
    """An explicit ``$document`` block and a typeless exception: the page loads, and the verdict says which
    block the exception overrode (uBO's table: the implicit exception stands over an explicit block)."""
    e = Engine.from_text("||site.example^$document\n@@||site.example^", name="l")
    v = e.check("https://site.example/", None, "document")
    assert (v.blocked, v.rule, v.line, v.exception, v.overridden) == (
        False,
        "@@||site.example^",
        2,
        "@@||site.example^",
        "||site.example^$document",
    )


def test_removeparam_rules_found_by_page_or_host_only_where_they_apply() -> None:
    e = Engine.from_text(
        "||a.example^$removeparam=utm_source\n"
        "||b.example^$removeparam=fbclid,domain=site.example\n"  # a host, limited to a page
        "$removeparam=gclid,domain=site.example\n"  # no host: found through the page
    )
    params = lambda url, page: [p.param for p in e.removeparams(url, page, "image")]  # noqa: E731
    site, other = "https://www.site.example/", "https://other.example/"
    assert params("https://a.example/?utm_source=x&fbclid=1", site) == ["utm_source"]
    assert params("https://b.example/?fbclid=1&gclid=2", site) == ["fbclid", "gclid"]
    assert params("https://b.example/?fbclid=1&gclid=2", other) == []
    # A non-ASCII name is compared decoded, so the raw URL need not hold it.
    assert [
        p.param for p in Engine.from_text("$removeparam=ü").removeparams("https://c.example/?%C3%BC=1")
    ] == ["ü"]


# --- preprocessor and includes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("env_chromium", True),
        ("ext_ublock", True),
        ("env_firefox", False),
        ("!env_firefox", True),
        ("env_mobile", False),
        ("env_safari", False),
        ("ext_ubol", False),
        ("cap_html_filtering", False),
        ("!cap_html_filtering", True),
        ("cap_anything_new", False),
        ("env_chromium && !env_mobile", True),
        ("env_firefox || env_chromium", True),
        ("env_chromium && env_firefox", False),  # && is "and"
        ("env_chromium || something_unknown", None),  # a token it does not know makes the whole unknown
        ("something_unknown || env_chromium", None),
        ("(cap_html_filtering", None),  # an unbalanced parenthesis is not stripped: nobody knows "(cap_..."
        ("(env_firefox || env_safari)", False),
        ("false", False),
        ("adguard_ext_chromium", True),
        ("adguard_app_windows", False),
        ("something_unknown", None),  # uBO keeps a block it does not understand
        ("x", None),  # one letter: a token nobody knows either
        ("&& env_chromium", None),  # an operator with nothing before it
    ],
)
def test_preprocessor_tokens(expr: str, value: bool | None) -> None:
    assert preprocess.evaluate(expr) is value


def test_if_blocks_keep_line_numbers() -> None:
    text = "\n".join(
        [
            "||always.example^",
            "!#if env_firefox",
            "||firefox.example^",
            "!#else",
            "||chromium-else.example^",
            "!#endif",
            "!#if !cap_html_filtering",
            "||no-html.example^",
            "!#if env_mobile",
            "||nested-mobile.example^",
            "!#endif",
            "!#endif",
        ]
    )
    e = Engine.from_text(text, name="l")
    assert e.check("https://always.example/").line == 1
    assert not e.check("https://firefox.example/").blocked
    assert e.check("https://chromium-else.example/").line == 5
    assert e.check("https://no-html.example/").line == 8
    assert not e.check("https://nested-mobile.example/").blocked


def test_else_of_a_kept_block_is_dropped_and_of_an_unknown_one_kept() -> None:
    e = Engine.from_text(
        "!#if env_chromium\n||if.example^\n!#else\n||else.example^\n!#endif\n"
        "!#if mystery\n||unknown-if.example^\n!#else\n||unknown-else.example^\n!#endif\n"
    )
    assert e.check("https://if.example/").blocked
    assert not e.check("https://else.example/").blocked
    assert e.check("https://unknown-if.example/").blocked and e.check("https://unknown-else.example/").blocked


def test_ifs_nested_past_the_limit_are_unknown_and_kept() -> None:
    depth = preprocess.MAX_DEPTH
    text = "!#if env_chromium\n" * depth + "!#if false\n||deepest.example^\n" + "!#endif\n" * (depth + 1)
    assert Engine.from_text(text).check("https://deepest.example/").blocked
    shallow = "!#if env_chromium\n" * (depth - 1) + "!#if false\n||deep.example^\n" + "!#endif\n" * depth
    assert not Engine.from_text(shallow).check("https://deep.example/").blocked


def test_a_line_that_only_looks_like_a_directive_is_a_comment() -> None:
    # Directives after it still count: `!#if` below drops its block, `!#include` with no file says so.
    e = Engine.from_text(
        "! Title: t\n!#-- section --\n!#if env_firefox\n||dropped.example^\n!#endif\n!#include\n||kept.example^\n",
        name="t",
    )
    assert not e.check("https://dropped.example/").blocked and e.check("https://kept.example/").blocked
    assert e.errors == ["t:6: cannot include (nothing): no file named"]


def test_an_include_that_fails_is_reported_at_its_line() -> None:
    e = Engine.from_text("! Title: t\n||a.example^\n!#include ..\\secret.txt\n", name="t")
    assert e.errors == [
        "t:3: cannot include ..\\secret.txt: only files beside the list can be included (a relative path without"
        " '..')"
    ]
    assert not preprocess.is_relative("sub\\..\\..\\x.txt")  # Windows separators climb too
    assert preprocess.is_relative("sub/x.txt")
    assert not preprocess.is_relative("\\\\server\\share\\x.txt")  # a Windows network path
    assert not preprocess.is_relative("~/x.txt")  # a home directory
    assert not preprocess.is_relative("/etc/hosts")  # an absolute path
    assert not preprocess.is_relative("c:x.txt")  # a drive


def test_an_include_in_a_list_that_is_no_file_is_reported() -> None:
    e = Engine.from_text("! Title: t\n!#include part.txt\n||a.example^\n", name="t")
    assert e.errors == ["t:2: cannot include part.txt: this list is not a file"]
    assert e.check("https://a.example/").blocked


def test_real_ubo_list_drops_firefox_only_exceptions() -> None:
    # ubo-filters.min.txt wraps an amazon-adsystem exception in `!#if env_firefox`: on Chromium uBO blocks.
    e = Engine.from_files([shared_path("filterlists", "ubo-filters.min.txt")])
    v = e.check("http://c.amazon-adsystem.com/aax2/amzn_ads.js", "http://lifehacker.com/", "script")
    assert v.exception is None


def test_include_beside_a_list_file(tmp_path: Path) -> None:
    (tmp_path / "main.txt").write_text(
        "! Title: main\n||main.example^\n!#include part.txt\n!#include ../escape.txt\n"
        "!#include https://elsewhere.example/x.txt\n!#if env_firefox\n!#include firefox.txt\n!#endif\n"
    )
    (tmp_path / "part.txt").write_text(
        "||part.example^\n!#include deeper.txt\n!#if env_firefox\n||after.example^\n!#endif\n"
    )
    (tmp_path / "deeper.txt").write_text("||deeper.example^\n")
    (tmp_path / "part.txt").write_bytes(
        (tmp_path / "part.txt").read_bytes() + b"! \xff not UTF-8\n||late.example^\n"
    )
    (tmp_path / "firefox.txt").write_text("||firefox.example^\n")
    (tmp_path.parent / "escape.txt").write_text("||escape.example^\n")
    e = Engine.from_files([tmp_path / "main.txt"])
    v = e.check("https://part.example/")
    assert v.blocked and v.list == "main/part.txt" and v.line == 1
    assert e.stats["main/part.txt"].rules == 2
    assert e.check("https://late.example/").blocked  # a byte that is not UTF-8 does not cost the file
    # one level, same origin, kept blocks only; an included file's own directives still count after its include
    for host in ("deeper", "escape", "elsewhere", "firefox", "after"):
        assert not e.check(f"https://{host}.example/").blocked, host
    assert sum("only files beside the list" in err for err in e.errors) == 2
    assert len(e.errors) == 2  # an include one level down is ignored without a word, as uBO does


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args: object) -> None:
            pass

    with serve_http(Handler) as base:
        yield base, root


def test_ubo_unexpanded_list_by_url_fetches_its_includes(served: tuple[str, Path], tmp_path: Path) -> None:
    """uBO publishes filters.txt with `!#include` lines; a local copy of each included file is served here."""
    from pixelguard import update

    base, root = served
    text = shared_path("filterlists", "ubo-filters.txt").read_text()
    (root / "filters").mkdir()
    (root / "filters" / "filters.txt").write_text(text)
    targets = preprocess.include_targets(text)
    assert targets, "ubo-filters.txt has !#include lines"
    kept: list[str] = []  # includes outside blocks Chromium drops (uBO's filters-mobile.txt is in env_mobile)
    preprocess.expand("ubo", text, lambda t: (kept.append(t), ("", None))[1])
    assert 0 < len(kept) < len(targets)
    for i, target in enumerate(targets):
        (root / "filters" / target).parent.mkdir(parents=True, exist_ok=True)
        (root / "filters" / target).write_text(f"! Title: part {i}\n||included-{i}.example^\n")
    spec = ListSpec("ubo", tmp_path / "lists" / "ubo.txt", url=f"{base}/filters/filters.txt")
    r = update.update_list(spec, force=True, timeout=10)
    assert r.status == "updated", r
    e = Engine.from_files([spec.file])
    own = e.stats["ubo"].rules
    assert own > 1000
    for i, target in enumerate(targets):
        v = e.check(f"https://included-{i}.example/")
        assert v.blocked is (target in kept), (target, v)
        assert not v.blocked or v.list == f"ubo/{target}"
    assert r.rules == own + len(kept)


def test_a_missing_include_keeps_the_previous_copy(served: tuple[str, Path], tmp_path: Path) -> None:
    from pixelguard import update

    base, root = served
    (root / "l.txt").write_text("! Title: l\n||a.example^\n!#include gone.txt\n")
    spec = ListSpec("l", tmp_path / "l.txt", url=f"{base}/l.txt")
    spec.file.write_text("! Title: old\n||old.example^\n")
    r = update.update_list(spec, force=True, timeout=10)
    assert r.status == "failed" and "included file gone.txt: HTTP 404" in r.message
    assert "old.example" in spec.file.read_text()


def test_a_hosts_file_subscription_is_accepted(served: tuple[str, Path], tmp_path: Path) -> None:
    from pixelguard import update

    base, root = served
    (root / "hosts").write_bytes(shared_path("filterlists", "adaway-hosts.txt").read_bytes())
    (root / "domains").write_text("".join(f"tracker{i}.example\n" for i in range(50)))
    for name in ("hosts", "domains"):
        spec = ListSpec(name, tmp_path / f"{name}.txt", url=f"{base}/{name}")
        r = update.update_list(spec, force=True, timeout=10)
        assert r.status == "updated", r
        assert Engine.from_files([spec.file]).check("https://tracker7.example/").blocked is (
            name == "domains"
        )
