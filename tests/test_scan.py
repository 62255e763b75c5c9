"""pixelguard scan: every remote image of .eml/.mbox/.html with a verdict; never crashes on bad input."""

from __future__ import annotations

import json
import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_data import SHARED, shared_path
from test_email_corpus import ground_truth

from pixelguard.cli import cli
from pixelguard.config import bundled_filters_dir
from pixelguard.css_loads import urls as css_urls
from pixelguard.engine import Engine
from pixelguard.scan import ImageFinder, find_images, parse_srcset, scan_file


@pytest.fixture(scope="module")
def engine() -> Engine:
    d = bundled_filters_dir()
    return Engine.from_files([d / "pixelguard-ads.txt", d / "pixelguard-email.txt"])


def email_files() -> list[Path]:
    root = SHARED / "emails"
    return (
        sorted(p for p in root.rglob("*") if p.suffix in (".eml", ".html", ".mbox")) if root.is_dir() else []
    )


# --- extraction ---------------------------------------------------------------------------------------------


def test_finds_img_srcset_background_and_css() -> None:
    html = """<html><head><style>
      @import url("https://fonts.example/css?family=A");
      .a { background-image: url('https://cdn.example/bg.png') }
      #t { content:url(https://track.example/o.gif) }
    </style></head><body background="https://cdn.example/body.jpg">
      <img src="https://cdn.example/a.png" srcset="https://cdn.example/a,1x.png 1x, https://cdn.example/a2.png 2x">
      <td style="background: #fff url(&quot;https://cdn.example/td.png&quot;) no-repeat">x</td>
      <img src="cid:logo@x"> <img src="data:image/gif;base64,R0lGOD"> <img src="//proto.example/rel.png">
      <v:fill src="https://cdn.example/vml.png"/>
    </body></html>"""
    found = {(i.url, i.where) for i in find_images(html)}
    assert found == {
        ("https://fonts.example/css?family=A", "import"),
        ("https://cdn.example/bg.png", "css"),
        ("https://track.example/o.gif", "css"),
        ("https://cdn.example/body.jpg", "background"),
        ("https://cdn.example/a.png", "img"),
        ("https://cdn.example/a,1x.png", "srcset"),
        ("https://cdn.example/a2.png", "srcset"),
        ("https://cdn.example/td.png", "style"),
        ("https://proto.example/rel.png", "img"),
        ("https://cdn.example/vml.png", "img"),
    }


@pytest.mark.parametrize(
    ("tag", "pixel"),
    [
        ('<img src="https://t.example/p" width="1" height="1">', "1x1 attributes"),
        ('<img src="https://t.example/p" width="0" height="0" border="0">', "0x0 attributes"),
        ('<img src="https://t.example/p" height="2">', "?x2 attributes"),
        ('<img src="https://t.example/p" style="display:none">', "display:none"),
        ('<img src="https://t.example/p" style="visibility: hidden">', "visibility:hidden"),
        ('<img src="https://t.example/p" style="width:1px;height:1px">', "tiny CSS size"),
        (
            '<div style="display:none"><p><img src="https://t.example/p"></p></div>',
            "inside a display:none element",
        ),
        ('<img src="https://t.example/p" width="600">', None),
        ('<img src="https://t.example/p" width="100%">', None),
        ('<div style="display:none"></div><img src="https://t.example/p">', None),
        # The hidden copy of a responsive newsletter (mobile or desktop), sized as a picture: not a pixel.
        ('<div style="display:none"><img src="https://t.example/p" width="650" height="360"></div>', None),
        ('<img src="https://t.example/p" style="display:none; width:600px">', None),
        (
            '<div style="display:none"><img src="https://t.example/p" width="1" height="1"></div>',
            "1x1 attributes",
        ),
    ],
)
def test_pixel_heuristics(tag: str, pixel: str | None) -> None:
    (img,) = find_images(tag)
    assert img.pixel == pixel


def test_srcset_and_css_parsers() -> None:
    assert parse_srcset("a.png 1x,b.png 2x , c.png") == ["a.png", "b.png", "c.png"]
    assert parse_srcset("https://i.example/w_100,h_100/x.png 100w, y.png 200w") == [
        "https://i.example/w_100,h_100/x.png",
        "y.png",
    ]
    assert css_urls("a{background:url( 'x.png' )} b{background:url(y.png)}") == [
        ("x.png", "css"),
        ("y.png", "css"),
    ]


@pytest.mark.parametrize(
    ("html", "found"),
    [
        ("<img src='https://a.example/x.png' <<<", []),  # an unfinished tag is text, as browsers read it
        ("<style>.a{background:url(https://a.example/x.png)", []),  # an unclosed style is not applied
        ("<img src=", []),
        ("\x00\xff", []),
        ('<img src="https://a.example/y.png"><div <img', ["https://a.example/y.png"]),  # what precedes stays
        (
            '<p><img src="https://a.example/z.gif" width=1 height=1></b></i></p></p>',
            ["https://a.example/z.gif"],
        ),
    ],
)
def test_broken_html_is_read_as_far_as_it_goes(html: str, found: list[str]) -> None:
    # The parser itself, not find_images (which would hide an exception): it must not raise on its own.
    p = ImageFinder()
    p.feed(html)
    p.close()
    assert [i.url for i in p.found] == found


# --- files --------------------------------------------------------------------------------------------------


def test_every_file_in_the_shared_corpus_scans(engine: Engine) -> None:
    files = email_files()
    if not files:
        shared_path("emails")
    total = 0
    for f in files:
        reports = scan_file(f, engine)
        assert reports, f
        for rep in reports:
            total += len(rep.images)
            assert not rep.problems, (f, rep.problems)
        if f.suffix == ".eml":
            assert reports[0].subject, f
    assert total > 500


@pytest.mark.parametrize(
    "head, kind",
    [
        # a Maildir's file has no suffix: a message is known by its header fields
        (b"Return-Path: <a@b.example>\nDelivered-To: c@d.example\nSubject: hi\n\nbody", "eml"),
        (b"X-Original-To: c@d.example\r\nFrom: a@b.example\r\n\r\n", "eml"),
        (b"From a@b.example Thu Jan  1 00:00:00 2026\nSubject: hi\n\n", "mbox"),
        # HTML by how it begins, after a byte order mark and whitespace (WHATWG MIME Sniffing's patterns)
        (b"\xef\xbb\xbf\r\n  <!DOCTYPE html>\n<html>", "html"),
        (b"<!-- saved by a mail client -->\n<html>", "html"),
        (b"<TABLE width=600>", "html"),
        (b'<meta charset="utf-8"><img src="https://t.example/p.gif">', "html"),
        # what only mentions mail or markup is neither
        (b"# Notes\n\nTo: the team\nSubject: the plan\n", None),
        (b"Notes: a list\n\nSubject: not a header any more\n", None),
        (b"# Changes\n\n- scan reads `<img>` and `<picture>`\n", None),
        (b"<imgur links>\n", None),
        (b"<bold claims>", None),
        (b"", None),
    ],
)
def test_a_file_without_a_known_suffix_is_known_by_how_it_begins(
    tmp_path: Path, head: bytes, kind: str | None
) -> None:
    from pixelguard.errors import PixelguardError
    from pixelguard.scan import _kind

    f = tmp_path / "1733000000.M1P2.host:2,S"
    if kind is None:
        with pytest.raises(PixelguardError, match="not an email"):
            _kind(f, head)
    else:
        assert _kind(f, head) == kind


def test_fonts_and_imported_stylesheets_are_not_counted_as_images(engine: Engine) -> None:
    html = """<html><head><style>
      @import url("https://fonts.example/css?family=A");
      @font-face { font-family: X; src: url(https://fonts.example/x.woff2) format("woff2"), url('https://fonts.example/x.woff'); }
      .a { background-image: url('https://cdn.example/bg.png') }
    </style><link rel="preconnect" href="https://t.example"><link rel="alternate" href="https://feed.example/rss">
    </head><body><img src="https://cdn.example/a.png" width="600"><video src="https://v.example/a.mp4"></video>
    </body></html>"""
    assert {(i.url, i.where) for i in find_images(html)} >= {
        ("https://fonts.example/x.woff2", "font"),
        ("https://fonts.example/x.woff", "font"),
        ("https://fonts.example/css?family=A", "import"),
    }
    from pixelguard.scan import scan_message

    msg = EmailMessage()
    msg["Subject"] = "fonts"
    msg.set_content(html, subtype="html")
    rep = scan_message(msg, engine, "m.eml")
    assert sorted(i.url for i in rep.images) == ["https://cdn.example/a.png", "https://cdn.example/bg.png"]
    assert sorted(i.where for i in rep.other) == ["font", "font", "import", "link", "media"]
    # the preconnect is a load; rel=alternate loads nothing
    assert ("https://t.example/", "link") in {(i.url, i.where) for i in rep.other}
    from pixelguard import render

    lines = render.scan_report(rep)
    assert "  2 remote images: 0 blocked, 0 more look like pixels" in lines
    assert "  5 other remote loads (stylesheets, fonts, media, links): 0 blocked" in lines


def test_hidden_copies_of_newsletter_images_are_not_pixels(engine: Engine) -> None:
    # A WWF newsletter hides the mobile copy of each picture (650x360 inside display:none): 29 false "PIXEL?".
    (f,) = [p for p in shared_path("emails", "unspy").glob("*wwf.u1.eml")]
    (rep,) = scan_file(f, engine)
    sized = [i for i in rep.images if i.pixel and (i.width or "").isdigit() and int(i.width or 0) > 2]
    assert not sized, [(i.url, i.width, i.height) for i in sized]
    assert rep.pixel_like <= 5  # the hidden images with no size at all remain suspicious


def test_scan_flags_all_open_tracking_pixels(engine: Engine) -> None:
    pixels, content = ground_truth(shared_path("emails", "unspy"))
    assert len(pixels) == 28  # 14 pixels x 2 copies
    verdicts: dict[tuple[Path, str], bool] = {}
    for f in {f for f, _ in pixels + content}:
        for rep in scan_file(f, engine):
            for img in rep.images:
                verdicts[(f, img.url)] = verdicts.get((f, img.url), False) or img.flagged
    missed = [(f.name, u) for f, u in pixels if not verdicts.get((f, u))]
    assert not missed


def test_scan_flags_css_background_trackers(engine: Engine) -> None:
    path = shared_path("emails", "mailtrackerblocker", "multibgcsstrackers.html")
    (rep,) = scan_file(path, engine)
    # Litmus's emltrk.com beacons hide in <style>: dark/light mode, print, and the quoted-reply selectors.
    css = [i for i in rep.images if "emltrk.com" in i.url and i.where == "css"]
    assert len(css) == 7
    assert {i.url.split("?")[1].split("&")[0] for i in css} == {"rd", "rl", "p", "f"}
    assert all(i.blocked and i.rule == "||emltrk.com^" for i in css)
    # The header background from the newsletter's CDN is content and stays.
    bg = [i for i in rep.images if "header_background_image" in i.url]
    assert bg and not any(i.flagged for i in bg)


def _message(subject: str, html: bytes, charset: str = "utf-8") -> bytes:
    m = EmailMessage()
    m["Subject"] = subject
    m["From"] = "News <news@shop.example>"
    m.set_content("plain")
    m.add_alternative(html.decode("latin-1"), subtype="html", charset=charset)
    return bytes(m)


def test_mbox_with_several_messages(tmp_path: Path, engine: Engine) -> None:
    box = mailbox.mbox(str(tmp_path / "in.mbox"))
    box.add(_message("one", b'<img src="https://x.us3.list-manage.com/track/open.php?u=1&id=2&e=3" width=1>'))
    box.add(_message("two", b'<img src="https://cdn.example/a.png" width="1" height="1">'))
    box.add(_message("three", b"<p>no images</p>"))
    box.close()
    reps = scan_file(tmp_path / "in.mbox", engine)
    assert [r.subject for r in reps] == ["one", "two", "three"]
    assert [(r.blocked, r.pixel_like, len(r.images)) for r in reps] == [(1, 0, 1), (0, 1, 1), (0, 0, 0)]


def test_undecodable_part_is_reported_not_raised(tmp_path: Path, engine: Engine) -> None:
    raw = (
        b"Subject: bad charset\r\nFrom: a@b.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/html; charset="x-no-such-charset"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"PGltZyBzcmM9Imh0dHBzOi8vY2RuLmV4YW1wbGUvYS5wbmciPg==\r\n"
    )
    p = tmp_path / "bad.eml"
    p.write_bytes(raw)
    (rep,) = scan_file(p, engine)
    assert [i.url for i in rep.images] == ["https://cdn.example/a.png"]
    assert rep.problems


# --- CLI ----------------------------------------------------------------------------------------------------


def test_cli_scan_text_json_and_missing_file(tmp_path: Path) -> None:
    good = tmp_path / "n.eml"
    good.write_bytes(
        _message("Hello", b'<img src="https://stats.crsend.com/stats/mc_1_2_x.gif" width=1 height=1>')
    )
    r = CliRunner().invoke(cli, ["scan", str(tmp_path / "missing.eml"), str(good)])
    assert r.exit_code == 2
    assert "missing.eml: no such file" in r.stderr
    assert "Hello" in r.stdout and "BLOCKED" in r.stdout and "||crsend.com/stats/" in r.stdout
    assert "1 remote image: 1 blocked" in r.stdout

    r = CliRunner().invoke(cli, ["scan", "--json", str(good)])
    assert r.exit_code == 0, r.output
    (obj,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert obj["subject"] == "Hello" and obj["blocked"] == 1
    assert obj["images"][0]["rule"] == "||crsend.com/stats/"
    assert obj["images"][0]["list"] == "pixelguard-email"


# --- what mutation testing found untested (scripts/mutate --group messages) ---------------------------------


def test_other_image_elements_are_found_with_their_sizes() -> None:
    html = (
        '<input type="image" src="https://t.example/button.png" width="1" height="1">'
        '<input type="text" src="https://t.example/not-loaded.png">'  # only an image input loads its src
        '<svg><image xlink:href="https://t.example/svg.png" width="1" height="1"/></svg>'
        '<picture><source srcset="https://t.example/wide.png" width="640" height="2"></picture>'
    )
    found = {(i.url, i.where, i.width, i.height, i.pixel) for i in find_images(html)}
    assert found == {
        ("https://t.example/button.png", "img", "1", "1", "1x1 attributes"),
        ("https://t.example/svg.png", "img", "1", "1", "1x1 attributes"),
        ("https://t.example/wide.png", "srcset", "640", "2", None),
    }


@pytest.mark.parametrize(
    ("style", "pixel"),
    [
        ("width:1px;height:1px;background-image:url(https://t.example/o.gif)", "tiny CSS size"),
        ("width:1px;height:300px;background-image:url(https://t.example/o.gif)", None),
        ("width:300px;height:1px;background-image:url(https://t.example/o.gif)", None),
    ],
)
def test_a_style_background_on_a_tiny_element_is_a_pixel(style: str, pixel: str | None) -> None:
    (img,) = find_images(f'<td style="{style}">x</td>')
    assert (img.url, img.where, img.pixel) == ("https://t.example/o.gif", "style", pixel)


def test_a_srcset_candidate_without_a_descriptor_keeps_its_url() -> None:
    # The comma after a URL with no descriptor separates it; the URL's own characters all stay.
    assert parse_srcset("https://cdn.example/IMGX, https://cdn.example/b.png 2x") == [
        "https://cdn.example/IMGX",
        "https://cdn.example/b.png",
    ]


def test_an_image_is_judged_as_an_image(tmp_path: Path) -> None:
    # A rule limited to images applies to a mail's images, whatever their URL looks like; one limited to scripts
    # does not, though the URL ends in .js.
    (tmp_path / "l.txt").write_text("||img.example^$image\n||script.example^$script\n")
    engine = Engine.from_files([tmp_path / "l.txt"])
    page = tmp_path / "n.html"
    page.write_text('<img src="https://img.example/open?u=1"><img src="https://script.example/b.js">')
    (rep,) = scan_file(page, engine)
    assert [(i.url, i.blocked) for i in rep.images] == [
        ("https://img.example/open?u=1", True),
        ("https://script.example/b.js", False),
    ]


def test_an_html_file_is_named_by_its_title(tmp_path: Path, engine: Engine) -> None:
    page = tmp_path / "n.html"
    page.write_text("<html><head><title>  Spring\n sale  </title></head><body><p>x</p></body></html>")
    (rep,) = scan_file(page, engine)
    assert (rep.subject, rep.index) == ("Spring sale", 0)


def test_the_pixel_size_asked_for_applies_to_every_kind_of_file(tmp_path: Path, engine: Engine) -> None:
    img = b'<img src="https://cdn.example/a.png" width="3" height="3">'
    (tmp_path / "n.eml").write_bytes(_message("eml", img))
    (tmp_path / "n.html").write_bytes(img)
    box = mailbox.mbox(str(tmp_path / "n.mbox"))
    box.add(_message("mbox", img))
    box.close()
    for name in ("n.eml", "n.html", "n.mbox"):
        (default,) = scan_file(tmp_path / name, engine)
        (bigger,) = scan_file(tmp_path / name, engine, pixel=(4, 4))
        assert (default.pixel_like, bigger.pixel_like) == (0, 1), name


def test_tracked_links_are_reported_in_an_mbox_too(tmp_path: Path, engine: Engine) -> None:
    box = mailbox.mbox(str(tmp_path / "n.mbox"))
    box.add(_message("one", b'<a href="https://click.example/c?u=https%3A%2F%2Fshop.example%2F">shop</a>'))
    box.close()

    def judge(url: str) -> tuple[str | None, str | None]:
        return ("https://shop.example/", None) if url.startswith("https://click.example/") else (None, None)

    (rep,) = scan_file(tmp_path / "n.mbox", engine, links=judge)
    assert [(link.url, link.destination) for link in rep.links] == [
        ("https://click.example/c?u=https%3A%2F%2Fshop.example%2F", "https://shop.example/")
    ]


def test_a_directory_is_scanned_without_its_hidden_files(tmp_path: Path) -> None:
    from pixelguard.scan import message_files

    for name in ("cur/b.eml", "cur/a.eml", "new/c.eml", "cur/.index", ".notmuch/x.eml", "tmp/.lock/y.eml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"Subject: x\r\n\r\nx")
    assert [p.relative_to(tmp_path).as_posix() for p in message_files(tmp_path)] == [
        "cur/a.eml",
        "cur/b.eml",
        "new/c.eml",
    ]
    assert message_files(tmp_path / "cur/a.eml") == [tmp_path / "cur/a.eml"]
