"""`pixelguard mail clean`: each kind of tracker a message can carry goes, each MIME shape comes out whole, the
real newsletters of ../shared/emails lose every pixel `scan` finds and nothing else, a Maildir is cleaned once and
survives kill -9, and hostile messages pass through."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from shared_data import shared_path

from pixelguard import render, scan
from pixelguard.config import bundled_filters_dir
from pixelguard.engine import Engine
from pixelguard.mail_clean import Clicks, Judge, clean_html, clean_maildir, clean_message, is_cleaned

REPO = Path(__file__).resolve().parent.parent
RULES = """\
||tracker.test^
||fonts.tracker.test^$font
||safelinks.protection.outlook.com^$doc,urlskip=?url
"""


@pytest.fixture(scope="module")
def judge() -> Judge:
    engine = Engine.from_text(RULES, "t")
    return Judge(engine, frozenset({"t"}))


# --- each kind of tracker ----------------------------------------------------------------------------------

KEPT = '<p>Hello</p><img src="https://cdn.shop.example/hero.jpg" width="600" alt="Sale">'


@pytest.mark.parametrize(
    ("html", "expected", "summary"),
    [
        # an image a list blocks, whatever its size
        ('<img src="https://tracker.test/o.gif" width="600">', "", "1 pixel removed"),
        # sized to a pixel by attributes, by CSS, hidden, or inside a hidden element (no list needed)
        ('<img src="https://esp.example/open/abc" width="1" height="1">', "", "1 pixel removed"),
        ('<img src="https://esp.example/o" style="width:1px;height:1px">', "", "1 pixel removed"),
        ('<img src="https://esp.example/o" style="display:none">', "", "1 pixel removed"),
        ('<div style="display:none"><img src="https://esp.example/o"></div>', '<div style="display:none"></div>',
         "1 pixel removed"),
        ('<IMG SRC="https://esp.example/o" WIDTH=0 HEIGHT=0 />', "", "1 pixel removed"),
        ('<img srcset="https://tracker.test/a.gif 1x, https://cdn.shop.example/b.jpg 2x">', "", "1 pixel removed"),
        # background images: an attribute, a style attribute, a <style> block
        ('<td background="https://tracker.test/bg.gif">x</td>', "<td>x</td>", "1 pixel removed"),
        ('<td style="color:red;background:url(https://tracker.test/bg.gif) no-repeat">x</td>',
         '<td style="color:red;background:none no-repeat">x</td>', "1 pixel removed"),
        ("<style>.a{background-image:url('https://tracker.test/p.png')} .b{color:red}</style>",
         "<style>.a{background-image:none} .b{color:red}</style>", "1 pixel removed"),
        ('<style>@import url("https://tracker.test/t.css");\n.b{color:red}</style>', "<style>\n.b{color:red}</style>",
         "1 pixel removed"),
        ("<style>@font-face{font-family:X;src:url(https://fonts.tracker.test/x.woff2)}</style>",
         "<style>@font-face{font-family:X;src:none}</style>", "1 pixel removed"),
        # loads that are not images
        ('<link rel="preconnect" href="https://tracker.test">', "", "1 tracker load removed"),
        ('<link rel="dns-prefetch" href="//tracker.test">', "", "1 tracker load removed"),
        ('<link rel="stylesheet" href="https://tracker.test/open.css">', "", "1 tracker load removed"),
        # a tracked link whose destination is in it
        ('<a href="https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fshop.example%2Fsale%3Fa%3D1%26b%3D2&amp;data=x">Sale</a>',
         '<a href="https://shop.example/sale?a=1&amp;b=2">Sale</a>', "1 link unwrapped"),
    ],
)  # fmt: skip
def test_each_kind_of_tracker_goes_and_the_rest_stays_byte_for_byte(
    judge: Judge, html: str, expected: str, summary: str
) -> None:
    out, counts = clean_html(f"<body>{KEPT}{html}{KEPT}</body>", judge)
    assert out == f"<body>{KEPT}{expected}{KEPT}</body>"
    assert counts.summary() == summary


@pytest.mark.parametrize(
    "html",
    [
        KEPT,
        '<img src="cid:logo@shop.example" width="1" height="1">',  # part of the message: nothing to fetch
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="1">',
        '<a href="https://shop.example/item?id=7">a plain link</a>',
        '<a href="https://u1.ct.sendgrid.net/ls/click?upn=abc">opaque: the destination is on its servers</a>',
        '<img src="https://cdn.shop.example/banner.png" width="600" height="1" style="display:none">',  # responsive
        "<style>.a{background:url(https://cdn.shop.example/bg.png)}</style>",
        '<link rel="preconnect" href="https://fonts.shop.example">',
        "<p>broken <b>markup <img src=https://cdn.shop.example/x.png width=300",
    ],
)
def test_what_is_not_a_tracker_is_left_exactly_as_it_was(judge: Judge, html: str) -> None:
    assert clean_html(html, judge) == (html, clean_html("", judge)[1])


# --- MIME shapes ---------------------------------------------------------------------------------------------

PIXEL = '<img src="https://tracker.test/open.gif" width="1" height="1">'


def _message(
    shape: str, charset: str = "utf-8", cte: str = "quoted-printable", linesep: str = "\n", pixel: str = PIXEL
) -> bytes:
    html = f"<html><body><p>Grüße, café, naïve</p>{pixel}{KEPT}</body></html>"
    msg = EmailMessage()
    msg["From"] = "News <news@shop.example>"
    msg["To"] = "jane@example.org"
    msg["Subject"] = (
        "Grüße: a subject long enough that a refolding writer would certainly fold it somewhere else"
    )
    msg["DKIM-Signature"] = "v=1; a=rsa-sha256; d=shop.example; s=s1; bh=abc; b=def"
    if shape == "single":
        msg.set_content(html, subtype="html", charset=charset, cte=cte)
    else:
        msg.set_content("Grüße, plain text", charset=charset, cte=cte)
        msg.add_alternative(html, subtype="html", charset=charset, cte=cte)
        if shape in ("related", "mixed"):
            html_part = msg.get_payload()[1]
            html_part.add_related(b"\x89PNG\r\n\x1a\nlogo", "image", "png", cid="<logo@shop.example>")
        if shape == "mixed":
            msg.add_attachment(b"%PDF-1.4 invoice \x00\xff", "application", "pdf", filename="invoice.pdf")
    return msg.as_bytes(policy=policy.default.clone(linesep=linesep))


def _non_html_parts(raw: bytes) -> list[tuple[str, bytes, list[tuple[str, str]]]]:
    msg = email.message_from_bytes(raw, policy=policy.default)
    return [
        (p.get_content_type(), p.get_payload(decode=True), [(k, str(v)) for k, v in p.items()])
        for p in msg.walk()
        if not p.is_multipart() and p.get_content_type() != "text/html"
    ]


@pytest.mark.parametrize("shape", ["single", "alternative", "related", "mixed"])
@pytest.mark.parametrize(
    ("charset", "cte"),
    [("utf-8", "quoted-printable"), ("utf-8", "base64"), ("iso-8859-1", "quoted-printable"),
     ("windows-1252", "8bit"), ("utf-8", "8bit")],
)  # fmt: skip
@pytest.mark.parametrize("linesep", ["\n", "\r\n"])
def test_every_mime_shape_comes_out_whole(
    judge: Judge, shape: str, charset: str, cte: str, linesep: str
) -> None:
    raw = _message(shape, charset, cte, linesep)
    out = clean_message(raw, judge)
    assert out.counts.summary() == "1 pixel removed" and out.problems == []
    assert out.data.startswith(f"X-Pixelguard: 1 pixel removed{linesep}".encode())
    before = email.message_from_bytes(raw, policy=policy.default)
    after = email.message_from_bytes(out.data, policy=policy.default)
    assert [p.get_content_type() for p in after.walk()] == [p.get_content_type() for p in before.walk()]
    assert list(after.items())[1:] == list(before.items())  # the original headers, after the mark
    assert _non_html_parts(out.data) == _non_html_parts(raw)  # attachments, inline images, the text part
    (html_before,) = [p for p in before.walk() if p.get_content_type() == "text/html"]
    (html_after,) = [p for p in after.walk() if p.get_content_type() == "text/html"]
    assert html_after.get_content() == html_before.get_content().replace(PIXEL, "")
    assert html_after.get_content_charset() == charset
    assert str(html_after["content-transfer-encoding"]) == str(html_before["content-transfer-encoding"])
    assert b"\r\n" not in out.data.replace(b"\r\n", b"") if linesep == "\r\n" else b"\r\n" not in out.data


def test_the_amp_version_goes_and_the_html_one_stays(judge: Judge) -> None:
    msg = EmailMessage()
    msg["Subject"] = "AMP"
    msg.set_content("plain text")
    msg.add_alternative('<html amp4email><body><amp-list src="https://esp.example/live.json"></amp-list></body></html>',
                        subtype="x-amp-html")  # fmt: skip
    msg.add_alternative(f"<html><body>{KEPT}</body></html>", subtype="html")
    out = clean_message(msg.as_bytes(), judge)
    after = email.message_from_bytes(out.data, policy=policy.default)
    assert [p.get_content_type() for p in after.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert out.counts.summary() == "1 tracker load removed" and b"amp-list" not in out.data
    # Without an HTML version to fall back on, the AMP one is left: the message must stay readable.
    lone = EmailMessage()
    lone.set_content("plain text")
    lone.add_alternative("<html amp4email><body>x</body></html>", subtype="x-amp-html")
    assert b"amp4email" in clean_message(lone.as_bytes(), judge).data


def test_a_message_with_nothing_to_remove_is_byte_for_byte_the_same_after_the_mark(judge: Judge) -> None:
    raw = _message("related", pixel="")
    out = clean_message(raw, judge)
    assert out.data == b"X-Pixelguard: nothing to remove\n" + raw


def test_cleaning_twice_changes_nothing_and_only_a_first_line_mark_counts(judge: Judge) -> None:
    raw = _message("alternative")
    once = clean_message(raw, judge)
    twice = clean_message(once.data, judge)
    assert twice.already and twice.data == once.data and is_cleaned(once.data)
    # A sender writing the header below the receiving server's lines does not get the message left alone.
    spoofed = b"Received: from mx.example.org\nX-Pixelguard: nothing to remove\n" + raw
    assert not is_cleaned(spoofed)
    assert clean_message(spoofed, judge).counts.pixels == 1


def test_an_mbox_envelope_line_stays_first(judge: Judge) -> None:
    raw = b"From news@shop.example Thu Dec  3 10:00:00 2026\n" + _message("single")
    out = clean_message(raw, judge)
    assert out.data.startswith(
        b"From news@shop.example Thu Dec  3 10:00:00 2026\nX-Pixelguard: 1 pixel removed\n"
    )
    assert clean_message(out.data, judge).already


@pytest.mark.parametrize(
    ("raw", "pixels"),
    [
        (b"", 0),
        (b"not a message at all \x00\xff", 0),
        (b"Content-Type: multipart/mixed; boundary=x\n\n" + b"--x\nContent-Type: multipart/mixed; boundary=x\n\n" * 200, 0),
        (b"Content-Type: text/html; charset=no-such-charset\n\n" + PIXEL.encode(), 0),  # cannot be decoded
        (b"Content-Type: text/html\n\n" + b"<div>" * 50_000 + PIXEL.encode(), 1),  # read to the end, once
    ],
)  # fmt: skip
def test_a_hostile_or_broken_message_is_delivered_never_lost(judge: Judge, raw: bytes, pixels: int) -> None:
    out = clean_message(raw, judge)
    assert out.counts.pixels == pixels
    if pixels:
        assert b"<div>" * 50_000 + b"\n" in out.data + b"\n" and PIXEL.encode() not in out.data
    else:
        assert out.data.endswith(raw)  # as it came (after the mark, when it could be read)


# --- the newsletters of ../shared/emails --------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_judge() -> Judge:
    files = [bundled_filters_dir() / f"pixelguard-{n}.txt" for n in ("ads", "email", "links")]
    engine = Engine.from_files([*files, shared_path("filterlists", "easyprivacy.txt")])
    return Judge(engine, frozenset({"pixelguard-links"}))


def test_every_shared_newsletter_loses_every_pixel_and_nothing_else(real_judge: Judge) -> None:
    files = sorted(shared_path("emails").rglob("*.eml"))
    assert len(files) >= 30
    removed = 0
    for f in files:
        raw = f.read_bytes()
        out = clean_message(raw, real_judge)
        assert out.problems == [], f
        before = scan.scan_message(
            email.message_from_bytes(raw, policy=policy.default), real_judge.engine, f.name
        )
        after = scan.scan_message(
            email.message_from_bytes(out.data, policy=policy.default), real_judge.engine, f.name
        )
        flagged = [i.url for i in before.images if i.flagged]
        assert [i for i in after.images if i.flagged] == [], f  # every pixel scan finds is gone
        kept = [i.url for i in before.images if not i.flagged]
        assert [i.url for i in after.images] == kept, f  # every content image stays, in order
        assert _non_html_parts(out.data) == _non_html_parts(raw), f
        assert out.counts.pixels >= len(flagged) > 0, f
        removed += len(flagged)
    assert removed >= 100


# --- a Maildir ----------------------------------------------------------------------------------------------


def _maildir(root: Path, n: int) -> dict[Path, bytes]:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    msgs = {}
    for i in range(n):  # odd ones in new/ with Dovecot's size field, even ones in cur/ with flags
        sub, name = (
            ("new", f"{1700000000 + i}.M{i}P1.host,S=123")
            if i % 2
            else ("cur", f"{1700000000 + i}.M{i}P1.host:2,FS")
        )
        path = root / sub / name
        raw = _message("mixed" if i % 3 else "single")
        path.write_bytes(raw)
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
        msgs[path] = raw
    return msgs


def test_a_maildir_is_cleaned_in_place_once_with_names_and_flags_kept(tmp_path: Path, judge: Judge) -> None:
    root = tmp_path / "Mail"
    msgs = _maildir(root, 6)
    result = clean_maildir(root, judge)
    assert (result.cleaned, result.skipped, result.counts.pixels) == (6, 0, 6)
    after = {p.name: p for sub in ("new", "cur") for p in (root / sub).iterdir()}
    assert list((root / "tmp").iterdir()) == []
    for i, (path, raw) in enumerate(msgs.items()):
        cleaned = clean_message(raw, judge).data
        # Dovecot's size field follows the new size; the rest of the name (flags and all) stays.
        new = after[path.name.replace(",S=123", f",S={len(cleaned)}")]
        assert new.parent == path.parent and new.read_bytes() == cleaned
        assert new.stat().st_mtime == 1_700_000_000 + i  # clients sort by it
    snapshot = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in after.values()}
    again = clean_maildir(root, judge)
    assert (again.cleaned, again.skipped) == (0, 6)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in snapshot} == snapshot


def cli_env(home: Path) -> dict[str, str]:
    """The environment of a `pixelguard mail clean` process whose only list is a user list blocking tracker.test."""
    (home / "config").mkdir(parents=True)
    (home / "config" / "user.txt").write_text("||tracker.test^\n")
    config = home / "config.yaml"
    config.write_text(f"user_list: {home / 'config' / 'user.txt'}\ndefault_lists: false\n")
    return {**os.environ, "PIXELGUARD_CONFIG": str(config), "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache")}  # fmt: skip


def test_a_maildir_clean_killed_midway_loses_nothing_and_a_rerun_finishes(tmp_path: Path) -> None:
    root = tmp_path / "Mail"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    big = _message("mixed").replace(b"invoice", b"invoice " * 20_000)
    originals = {}
    for i in range(400):
        path = root / "new" / f"{1700000000 + i}.M{i}P1.host"
        path.write_bytes(big)
        originals[path.name] = big
    env = cli_env(tmp_path / "home")
    cmd = [sys.executable, "-m", "pixelguard", "mail", "clean", "--maildir", str(root)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None and seen < 20:  # killed once it is under way
        seen = sum(is_cleaned(p.read_bytes()[:64]) for p in (root / "new").iterdir())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    files = sorted((root / "new").iterdir())
    assert len(files) == 400  # nothing lost, nothing doubled
    states = [p.read_bytes() for p in files]
    assert all(s == big or (is_cleaned(s) and s.endswith(big[-200:])) for s in states)
    assert sum(is_cleaned(s) for s in states) >= seen >= 20
    subprocess.run(cmd, env=env, cwd=REPO, check=True, capture_output=True, timeout=120)
    assert all(is_cleaned(p.read_bytes()[:64]) for p in (root / "new").iterdir())
    assert len(list((root / "new").iterdir())) == 400


# --- opaque tracked links: marked, and reported by scan -------------------------------------------------------

CLICKS = [
    ("https://u1234.ct.sendgrid.net/ls/click?upn=u001.abc", "||ct.sendgrid.net/ls/click$doc", "SendGrid"),
    ("https://url9876.shop.example/ls/click?upn=u001.abc", "/ls/click?upn=$doc", "SendGrid"),
    ("https://shop.us3.list-manage.com/track/click?u=abc&id=def&e=ghi", "||list-manage.com/track/click$doc", "Mailchimp"),
    ("https://trk.klclick.com/ls/click?upn=abc", "||klclick.com^$doc", "Klaviyo"),
    ("https://trk.klclick1.com/ls/click?upn=abc", "||klclick1.com^$doc", "Klaviyo"),
    ("https://r20.rs6.net/tn.jsp?f=001abc&c=def", "||rs6.net/tn.jsp$doc", "Constant Contact"),
    ("https://cl.exct.net/?qs=abc", "||exct.net^$doc", "Salesforce Marketing Cloud"),
    ("https://d2v8tf04.na1.hubspotlinks.com/Ctc/abc", "||hubspotlinks.com^$doc", "HubSpot"),
    ("https://x1y2z.mjt.lu/lnk/AAAB/abc", "||mjt.lu/lnk/$doc", "Mailjet"),
    ("https://substack.com/redirect/2/eyJlIjoi", "||substack.com/redirect/$doc", "Substack"),
    ("https://121070.seu2.cleverreach.com/c/79180030/b09ec13a504", "||cleverreach.com/c/$doc", "CleverReach"),
    ("https://news.shop.example/lists/lt.php?tid=cR8CUwYA", "/lists/lt.php?tid=$doc", "phpList"),
    ("https://newsletter.shop.example/click.html?x=a62e&lc=sOs", "/click.html?x=$doc", "GetResponse"),
    ("https://click.pstmrk.it/3s/abc/def", "||click.pstmrk.it^$doc", "Postmark"),
]  # fmt: skip


@pytest.fixture(scope="module")
def clicks() -> Clicks:
    return Clicks()


@pytest.mark.parametrize(("url", "rule", "vendor"), CLICKS)
def test_each_opaque_click_tracker_is_known_by_its_vendor(
    clicks: Clicks, url: str, rule: str, vendor: str
) -> None:
    v = clicks.engine.check(url, resource_type="document")
    assert (v.rule, clicks.vendor(url)) == (rule, vendor)


def test_the_clicks_table_covers_every_rule(clicks: Clicks) -> None:
    text = (bundled_filters_dir() / "pixelguard-clicks.txt").read_text(encoding="utf-8")
    rules = [ln for ln in text.splitlines() if ln and not ln.startswith(("!", "["))]
    assert sorted(rules) == sorted(rule for _, rule, _ in CLICKS)
    assert clicks.engine.errors == [] and clicks.engine.stats["pixelguard-clicks"].skipped == {}
    assert clicks.vendor("https://shop.example/item?id=7") is None


def test_an_opaque_link_gets_a_title_saying_so_and_nothing_else_changes(judge: Judge, clicks: Clicks) -> None:
    marking = Judge(judge.engine, judge.urlskip_lists, clicks=clicks)
    link = '<a href="https://u1.ct.sendgrid.net/ls/click?upn=abc" class="btn">Shop</a>'
    out, counts = clean_html(f"<p>{link}</p>", marking)
    assert out == ('<p><a href="https://u1.ct.sendgrid.net/ls/click?upn=abc" class="btn" '
                   'title="tracked link (SendGrid): opening it tells the sender">Shop</a></p>')  # fmt: skip
    assert counts.summary() == "1 tracked link marked"
    titled = '<a href="https://u1.ct.sendgrid.net/ls/click?upn=abc" title="Shop now">Shop</a>'
    assert clean_html(titled, marking)[0] == titled  # the sender's own title stays


def test_scan_reports_where_a_tracked_link_goes_or_whose_opaque_one_it_is(
    judge: Judge, clicks: Clicks
) -> None:
    marking = Judge(judge.engine, judge.urlskip_lists, clicks=clicks)
    msg = EmailMessage()
    msg.set_content(
        '<a href="https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fshop.example%2F">a</a>'
        '<a href="https://u1.ct.sendgrid.net/ls/click?upn=abc">b</a><a href="https://shop.example/x">c</a>'
        '<a href="https://u1.ct.sendgrid.net/ls/click?upn=abc">b again</a>',
        subtype="html",
    )
    rep = scan.scan_message(msg, marking.engine, "m.eml", links=marking.link)
    assert [(link.url, link.destination, link.vendor) for link in rep.links] == [
        ("https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fshop.example%2F", "https://shop.example/", None),
        ("https://u1.ct.sendgrid.net/ls/click?upn=abc", None, "SendGrid"),
    ]  # fmt: skip
    text = "\n".join(render.scan_report(rep))
    assert "goes to https://shop.example/" in text and "(SendGrid)" in text
    assert "2 tracked links: 1 with the destination in it" in text


@pytest.mark.timeout(60)  # linear: about a second here; a quadratic reading took minutes (3.3 s at a tenth)
@pytest.mark.parametrize(
    "css",
    [
        "url(https://tracker.test/x) " * 100_000,  # every url() a tracker's
        "@import url(https://tracker.test/a.css) " * 100_000,  # imports with no ";" to end them
        "@font-face{src:url(https://cdn.shop.example/f.woff)" * 100_000,  # font rules with no "}" to end them
    ],
)
def test_a_hostile_style_block_is_read_in_linear_time(judge: Judge, css: str) -> None:
    out, counts = clean_html(f"<style>{css}</style>", judge)
    assert counts.pixels == (0 if "font-face" in css else 100_000)
    assert out.startswith("<style>") and out.endswith("</style>")


@pytest.mark.parametrize(
    ("html", "expected", "summary"),
    [
        # a <picture>'s source is an image the client picks before its <img>
        ('<picture><source srcset="https://tracker.test/a.gif 1x"><img src="https://cdn.shop.example/b.png">'
         "</picture>", '<picture><img src="https://cdn.shop.example/b.png"></picture>', "1 pixel removed"),
        # media Apple Mail plays in a mail, and fetches on opening
        ('<video src="https://tracker.test/v.mp4" autoplay>x</video>', "x</video>", "1 tracker load removed"),
        ('<video><source src="https://tracker.test/v.mp4" type="video/mp4"></video>', "<video></video>",
         "1 tracker load removed"),
        ('<audio src="https://tracker.test/a.mp3"></audio>', "</audio>", "1 tracker load removed"),
        ('<video poster="https://tracker.test/p.gif" src="https://cdn.shop.example/v.mp4"></video>',
         '<video src="https://cdn.shop.example/v.mp4"></video>', "1 pixel removed"),
        # Outlook's VML image, an SVG filter's image
        ('<v:imagedata src="https://tracker.test/i.png"/>', "", "1 pixel removed"),
        ('<svg><feImage href="https://tracker.test/f.png"/></svg>', "<svg></svg>", "1 pixel removed"),
    ],
)  # fmt: skip
def test_pictures_media_and_vml_of_a_tracker_go(judge: Judge, html: str, expected: str, summary: str) -> None:
    out, counts = clean_html(f"<body>{KEPT}{html}{KEPT}</body>", judge)
    assert out == f"<body>{KEPT}{expected}{KEPT}</body>"
    assert counts.summary() == summary
    found = {f.url: f.where for f in scan.find_images(html)}
    assert any(u.startswith("https://tracker.test/") for u in found), found


@pytest.mark.parametrize("piece", [1, 7, 1 << 20])
def test_a_message_parsed_in_pieces_is_the_message_parsed_whole(
    monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    # Pieces cut anywhere, a CRLF or a multibyte character in two among them, give the same message back.
    monkeypatch.setattr(scan, "_PARSE_PIECE", piece)
    files = sorted(shared_path("emails").rglob("*.eml"))[:: 1 if piece > 1 else 10]
    for f in files:
        for raw in (f.read_bytes(), f.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")):
            whole = email.message_from_bytes(raw, policy=policy.default)
            assert bytes(scan.parse_message(raw)) == bytes(whole), f


def test_a_big_message_is_cleaned_in_a_few_times_its_size(judge: Judge) -> None:
    import tracemalloc

    msg = EmailMessage()
    msg["Subject"] = "the report, attached"
    msg.set_content('<p>hi</p><img src="https://tracker.test/o.gif" width="1" height="1">', subtype="html")
    msg.add_attachment(os.urandom(12 << 20), maintype="application", subtype="pdf", filename="report.pdf")
    raw = bytes(msg)
    tracemalloc.start()
    try:
        out = clean_message(raw, judge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.counts.pixels == 1 and out.problems == []
    # Parsed whole and written twice, the email package took 7-8 times the message's size; in pieces, under 4.
    assert peak < 5 * len(raw), peak / len(raw)
    assert _non_html_parts(out.data) == _non_html_parts(raw)


# --- what mutation testing found untested (scripts/mutate --group messages) ---------------------------------


def test_a_load_is_judged_as_the_type_it_is() -> None:
    # A rule limited to fonts removes a font the mail loads, not an image from the same host.
    judge = Judge(Engine.from_text("||fonts.example^$font\n", "t"), frozenset({"t"}))
    html = (
        "<style>@font-face{font-family:X;src:url(https://fonts.example/x.woff2)}</style>"
        '<img src="https://fonts.example/logo.png" width="600">'
    )
    out, counts = clean_html(html, judge)
    assert (
        out
        == '<style>@font-face{font-family:X;src:none}</style><img src="https://fonts.example/logo.png" width="600">'
    )
    assert counts.summary() == "1 pixel removed"


def test_the_counts_of_every_html_part_add_up(judge: Judge) -> None:
    link = (
        '<a href="https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fshop.example%2F&amp;data=x">'
        "Shop</a>"
    )
    msg = EmailMessage()
    msg["Subject"] = "two parts"
    msg.set_content("plain")
    msg.add_alternative(f"<p>{link}{PIXEL}</p>", subtype="html")
    msg.add_attachment(f"<p>{link}</p>", subtype="html", filename="digest.html")
    out = clean_message(msg.as_bytes(), judge)
    assert (out.counts.pixels, out.counts.links) == (1, 2), out.counts
    assert out.data.startswith(b"X-Pixelguard: 1 pixel removed, 2 links unwrapped")
