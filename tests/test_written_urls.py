"""A URL written in a mail or typed for `check` is judged as the client that fetches it reads it: every
spelling a browser or mail client turns into a tracker's URL is blocked as that URL, in `mail clean`, `scan` and
`check`; a relative reference loads from the mail's base (its <base href>, or its part's Content-Base); what no
client would fetch over http(s) is not a load at all; hostile text is read in linear time."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import write_config

from pixelguard import scan
from pixelguard.cli import cli
from pixelguard.engine import Engine
from pixelguard.mail_clean import Judge, clean_html, clean_message
from pixelguard.written_urls import fetched_url

RULES = """\
||tracker.test^
||shop.test/collect
||safelinks.protection.outlook.com^$doc,urlskip=?url
"""

# Each as Chromium's and Firefox's URL parsers (the WHATWG URL standard) read it: the form they fetch.
SPELLINGS = [
    ("https://tracker.test\\open.gif", "https://tracker.test/open.gif"),  # "\" is "/" in http(s) URLs
    ("https:\\\\tracker.test\\open.gif", "https://tracker.test/open.gif"),
    ("https:tracker.test/open.gif", "https://tracker.test/open.gif"),  # no slashes: still the authority
    ("https:/tracker.test/open.gif", "https://tracker.test/open.gif"),
    ("https:///tracker.test/open.gif", "https://tracker.test/open.gif"),
    ("  https://tracker.test/open.gif\x00 ", "https://tracker.test/open.gif"),  # C0 and spaces at the ends
    ("https://trac\nker.te\tst/op\ren.gif", "https://tracker.test/open.gif"),  # tab, LF, CR anywhere
    ("https://tr%61cker.test/open.gif", "https://tracker.test/open.gif"),  # escapes in the host undone
    ("https://TRACKER.Test/open.gif", "https://tracker.test/open.gif"),
    ("https://tracker\u3002test/open.gif", "https://tracker.test/open.gif"),  # "。" is "." (IDNA)
    ("https://ｔｒａｃｋｅｒ.test/open.gif", "https://tracker.test/open.gif"),  # full-width letters (IDNA)
    ("https://user:pw@tracker.test/open.gif", "https://user:pw@tracker.test/open.gif"),
    ("HTTPS://shop.test:443/collect?id=1", "https://shop.test/collect?id=1"),  # a default port dropped
    ("http://shop.test:80/collect?id=1", "http://shop.test/collect?id=1"),
    ("https://shop.test:/collect?id=1", "https://shop.test/collect?id=1"),  # an empty port too
    ("https://shop.test/x/../collect?id=1", "https://shop.test/collect?id=1"),  # dot segments removed
    ("https://shop.test/./collect?id=1", "https://shop.test/collect?id=1"),
    ("//shop.test/collect?id=1", "https://shop.test/collect?id=1"),  # scheme-relative: mail has no page
    ("\\\\shop.test/collect?id=1", "https://shop.test/collect?id=1"),
    (
        "\x00 /\t/shop.test/collect?id=1",
        "https://shop.test/collect?id=1",
    ),  # what is stripped or removed first
    ("http://0x7f.1/collect", "http://127.0.0.1/collect"),  # IPv4 written in hex and short
]


@pytest.mark.parametrize(("written", "fetched"), SPELLINGS)
def test_a_written_url_is_read_as_clients_read_it(written: str, fetched: str) -> None:
    assert fetched_url(written) == fetched


@pytest.mark.parametrize(
    "written",
    ["", "   ", "cid:logo@shop.test", "data:image/gif;base64,R0lGODlhAQABAAAAACw=", "logo.png", "/img/logo.png",
     "mailto:news@shop.test", "javascript:alert(1)", "ftp://tracker.test/p.gif",
     "https://a b/p.gif",  # a space in the host: no client fetches it
     "https://tracker.test:65536/p.gif"],  # no such port
)  # fmt: skip
def test_what_no_client_fetches_over_http_is_no_load(written: str) -> None:
    assert fetched_url(written) is None


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge(Engine.from_text(RULES, "t"), frozenset({"t"}))


KEPT = '<img src="https://cdn.shop.test/hero.jpg" width="600">'


@pytest.mark.parametrize(
    "written", [w for w, f in SPELLINGS if "tracker.test/" in f or "shop.test/collect" in f]
)
def test_mail_clean_removes_a_pixel_however_its_url_is_spelt(judge: Judge, written: str) -> None:
    attr = written.replace('"', "&quot;")
    html = f'<body>{KEPT}<img src="{attr}" width="600">{KEPT}</body>'
    out, counts = clean_html(html, judge)
    assert (out, counts.summary()) == (f"<body>{KEPT}{KEPT}</body>", "1 pixel removed")
    # In CSS "\\" escapes and a line break ends a string: written there as CSS escapes (css_loads.py reads them).
    in_css = written.translate({ord("\\"): "\\\\", ord("'"): "\\'", ord("\n"): "\\a ", ord("\r"): "\\d "})
    css = f"<style>.a{{background:url('{in_css}')}}</style>"
    out, counts = clean_html(css, judge)
    assert (out, counts.pixels) == ("<style>.a{background:none}</style>", 1)


def test_a_tracked_link_spelt_otherwise_is_unwrapped_too(judge: Judge) -> None:
    html = (
        '<a href="https:\\\\EUR01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fshop.test%2Fsale">x</a>'
    )
    out, counts = clean_html(html, judge)
    assert (out, counts.summary()) == ('<a href="https://shop.test/sale">x</a>', "1 link unwrapped")


def test_scan_reports_the_url_a_client_would_fetch(judge: Judge) -> None:
    html = '<img src="https://TR%41CKER.test\\o.gif"><img src="cid:x"><img src="//cdn.shop.test/a.png">'
    urls = [f.url for f in scan.find_images(html)]
    assert urls == ["https://tracker.test/o.gif", "https://cdn.shop.test/a.png"]
    assert [judge.blocked(u, "image") for u in urls] == [True, False]


def _config(tmp_path: Path) -> Path:
    return write_config(tmp_path, {"l": RULES})


def test_check_judges_a_typed_url_as_a_browser_would_send_it(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    for typed, sent, rule in [
        ("https://shop.test:443/collect?id=1", "https://shop.test/collect?id=1", "||shop.test/collect (l:2)"),
        ("https://tracker.test\\open.gif", "https://tracker.test/open.gif", "||tracker.test^ (l:1)"),
    ]:
        r = CliRunner().invoke(cli, ["--config", str(cfg), "check", typed])
        assert r.exit_code == 1, r.output
        assert f"  read as: {sent} (" in r.output and rule in r.output
        r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "--json", typed])
        obj = json.loads(r.stdout)
        assert (obj["url"], obj["read_as"]) == (typed, sent)
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "https://cdn.shop.test"])
    assert r.exit_code == 0 and "read as" not in r.output  # only the "/" a bare host is sent with: not said


def test_check_refuses_in_one_line_what_no_browser_would_load(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["--config", str(_config(tmp_path)), "check", "https://a b/p.gif"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "'https://a b/p.gif' is not an http(s) URL a browser would load" in r.output


@pytest.mark.timeout(60)  # linear: well under a second here
@pytest.mark.parametrize(
    "url",
    [
        "https://" + "\\" * 300_000 + "tracker.test/p",
        "https://" + "%61" * 100_000 + ".test/p",
        "https://" + "ａ." * 100_000 + "test/p",
        "https://tracker.test/" + "../x/%2e%2e/" * 30_000,
        "https://tracker.test/" + "\t\n" * 150_000,
    ],
)
def test_hostile_written_urls_are_read_in_linear_time(judge: Judge, url: str) -> None:
    html = f'<img src="{url}">' * 3
    out, _counts = clean_html(html, judge)
    assert out in ("", html)  # removed or kept whole, never cut


@pytest.mark.parametrize(
    ("html", "found"),
    [
        # relative references load from the first <base href>, as Outlook, Thunderbird and Apple Mail load them
        ('<base href="https://tracker.test/n/"><img src="o.gif"><img src="/r.gif"><img src="cid:x"><img src="">',
         ["https://tracker.test/n/o.gif", "https://tracker.test/r.gif"]),
        ('<base href="https://tracker.test/n/"><img src="//cdn.shop.test/a.png"><img src="https:x.gif">',
         ["https://cdn.shop.test/a.png", "https://tracker.test/n/x.gif"]),  # "https:x" is relative to https
        ('<base href="https://tracker.test/"><p style="background:url(bg.png)">x</p>',
         ["https://tracker.test/bg.png"]),
        ('<base href="http://tracker.test/"><img src="o.gif">', ["http://tracker.test/o.gif"]),
        # only the first base with an href counts; one that is not an absolute http(s) URL makes no loads
        ('<base target="_blank"><base href="https://tracker.test/"><base href="https://x.test/"><img src="o.gif">',
         ["https://tracker.test/o.gif"]),
        ('<base href="cid:part"><base href="https://tracker.test/"><img src="o.gif">', []),
        ('<base href="/relative/"><img src="o.gif">', []),
        ('<img src="o.gif">', []),
    ],
)  # fmt: skip
def test_relative_references_load_from_the_mails_base(html: str, found: list[str]) -> None:
    assert [f.url for f in scan.find_images(html)] == found


def test_mail_clean_removes_a_pixel_written_relative_to_a_trackers_base(judge: Judge) -> None:
    html = (
        '<head><base href="https://tracker.test/n/"><style>.a{background:url(bg.png)}</style></head>'
        f'<body>{KEPT}<img src="open.gif" width="600"><a href="?url=x">a</a>{KEPT}</body>'
    )
    out, counts = clean_html(html, judge)
    assert out == (
        '<head><base href="https://tracker.test/n/"><style>.a{background:none}</style></head>'
        f'<body>{KEPT}<a href="?url=x">a</a>{KEPT}</body>'
    )
    assert counts.summary() == "2 pixels removed"


def _html_message(html: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "news"
    msg.set_content(html, subtype="html")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg.as_bytes()


IMG = '<img src="o.gif">'
BASED = '<base href="https://x.test/"><img src="o.gif">'


@pytest.mark.parametrize(
    ("headers", "html", "found"),
    [
        ({"Content_Base": "https://tracker.test/n/"}, IMG, ["https://tracker.test/n/o.gif"]),
        ({"Content_Location": "https://tracker.test/n/page.html"}, IMG, ["https://tracker.test/n/o.gif"]),
        # the value's whitespace and quotes are dropped, as Thunderbird drops them
        ({"Content_Base": '"https://tracker.test/ n/"'}, IMG, ["https://tracker.test/n/o.gif"]),
        # the part's base comes first: a <base> in its HTML does not count, even when the part's is no http(s) URL
        ({"Content_Base": "https://tracker.test/"}, BASED, ["https://tracker.test/o.gif"]),
        ({"Content_Location": "index.html"}, BASED, []),
        ({}, BASED, ["https://x.test/o.gif"]),
    ],
)
def test_an_html_parts_content_base_is_its_first_base(
    headers: dict[str, str], html: str, found: list[str]
) -> None:
    msg = email.message_from_bytes(_html_message(html, **headers), policy=policy.default)
    rep = scan.scan_message(msg, Engine.from_text(RULES, "t"), "m.eml")
    assert [i.url for i in rep.images] == found


def test_mail_clean_removes_a_pixel_relative_to_the_parts_content_base(judge: Judge) -> None:
    raw = _html_message(
        f'<p>Hi</p><img src="open.gif" width="600">{KEPT}', Content_Base="https://tracker.test/"
    )
    out = clean_message(raw, judge)
    assert out.counts.summary() == "1 pixel removed"
    body = email.message_from_bytes(out.data, policy=policy.default).get_content()
    assert "open.gif" not in body and KEPT in body
