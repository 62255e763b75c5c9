"""What CSS in a mail loads, read as a browser's CSS parser reads it (CSS Syntax Level 3): escapes decoded,
comments and strings skipped, image-set()'s images and @import's forms found; mail clean removes each such load
of a tracker and leaves the rest of the text as it was; hostile text is read in linear time."""

from __future__ import annotations

import pytest

from pixelguard import scan
from pixelguard.css_loads import loads, unescape, urls
from pixelguard.engine import Engine
from pixelguard.mail_clean import Judge, clean_html

T = "https://tracker.test/p"


@pytest.mark.parametrize(
    ("css", "found"),
    [
        # escapes (4.3.7): a hex escape and one whitespace after it, a character escaped as itself
        (r".a{background:url(https://tr\61 cker.test/p)}", [(T, "css")]),
        (r".a{background:url('https://tr\000061cker.test/p')}", [(T, "css")]),
        (r".a{background:url(https\:\/\/tracker.test/p)}", [(T, "css")]),
        (".a{background:url(\"https://tracker.test/\\\np\")}", [(T, "css")]),  # a line continued in a string
        # the function's name escaped or in capitals is url( all the same
        (r".a{background:u\72l(https://tracker.test/p)}", [(T, "css")]),
        (r".a{background:\75 rl(https://tracker.test/p)}", [(T, "css")]),
        (r".a{background:u\rl(https://tracker.test/p)}", [(T, "css")]),
        (".a{background:URL(https://tracker.test/p)}", [(T, "css")]),
        (".a{background:url(  https://tracker.test/p  )}", [(T, "css")]),
        (".a{background:url( 'https://tracker.test/p' /* a comment */ )}", [(T, "css")]),
        # image-set(): its strings are images too
        ('.a{background:image-set("https://tracker.test/p" 1x, url(b.png) 2x)}', [(T, "css"), ("b.png", "css")]),
        ('.a{background:-webkit-image-set("https://tracker.test/p" 1x)}', [(T, "css")]),
        ('.a{background:image-set(url("x" y) "https://tracker.test/p" 1x)}', [(T, "css")]),
        ('.a{background:image-set("https://tracker.test/p" type("image/avif"))}', [(T, "css")]),
        # the walk goes on after a closed image-set()
        ('.a{background:image-set("a.png" 1x)} .b{background:url(https://tracker.test/p)}', [("a.png", "css"), (T, "css")]),
        # @import: with or without url(), with no space, after a comment, escaped
        ('@import "https://tracker.test/p";', [(T, "import")]),
        ('@import"https://tracker.test/p";', [(T, "import")]),
        ("@import/**/url(https://tracker.test/p) screen;", [(T, "import")]),
        (r"@\69mport url('https://tracker.test/p');", [(T, "import")]),
        ("@IMPORT url(https://tracker.test/p);", [(T, "import")]),
        ("@importer url(https://tracker.test/p);", [(T, "css")]),  # another at-rule: only a url()
        # @font-face sources are fonts
        (r"@font-f\61ce{src:url(https://tracker.test/p) format('woff2')}", [(T, "font")]),
        ("@font-face /* x */ {src:url(a.woff)} .b{background:url(b.png)}", [("a.woff", "font"), ("b.png", "css")]),
        # what loads nothing: inside a comment or a string, a string not alone in url(), an unclosed string
        ("/* .a{background:url(https://tracker.test/p)} */", []),
        ('.a{content:"url(https://tracker.test/p)"}', []),
        ('.a{content:"\\"url(https://tracker.test/p)"}', []),  # an escaped quote does not end the string
        ('.a{background:url("https://tracker.test/p" x)}', []),
        ('.a{background:url("https://tracker.test/p\n")}', []),  # a line break ends a string unclosed
        ('.a{background:url("https://tracker.test/p\\"\n)}', []),  # an escaped quote closes nothing
        # a comment ends at its first "*/", and "/*/" closes nothing
        ("/* a */ .a{background:url(https://tracker.test/p)} /* b */", [(T, "css")]),
        ("/*/ .a{background:url(https://tracker.test/p)} */", []),
        # inside image-set(): a comment holding ")" or a quote, a function's own parentheses
        ('.a{background:image-set(/* ) " */ "https://tracker.test/p" 1x)}', [(T, "css")]),
        ('.a{background:image-set(type("image/avif") "https://tracker.test/p" 1x)}', [(T, "css")]),
        ("@import X;", []),  # neither a string nor url(): no import
        # a "/*" inside a url() or a string opens no comment, so what follows still loads
        (".a{background:url(https://cdn.test/a/*) ; background:url(https://tracker.test/p)}",
         [("https://cdn.test/a/*", "css"), (T, "css")]),
        ('.a{content:"/*"} .b{background:url(https://tracker.test/p)}', [(T, "css")]),
    ],
)  # fmt: skip
def test_css_is_read_as_browsers_read_it(css: str, found: list[tuple[str, str]]) -> None:
    assert urls(css) == found


def test_escapes_decode_as_the_standard_says() -> None:
    assert unescape(r"\41 \42\43") == "ABC"
    assert unescape(r"\0 x\110000 \D800 ") == "\ufffdx\ufffd\ufffd"  # zero, past U+10FFFF, a surrogate
    assert unescape(r"\1 \10FFFF\DFFF\E000") == "\x01\U0010ffff\ufffd\ue000"  # the edges of each range
    for newline in ("\r\n", "\n", "\r", "\f"):
        assert unescape(f"a\\{newline}b") == "ab"  # a line continued
    assert unescape("no escapes") == "no escapes"


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge(Engine.from_text("||tracker.test^\n", "t"), frozenset({"t"}))


@pytest.mark.parametrize(
    ("css", "cleaned"),
    [
        (r".a{background:u\72l(https://tr\61 cker.test/p)} .b{color:red}", ".a{background:none} .b{color:red}"),
        ('.a{background:image-set("https://tracker.test/p" 1x, url(b.png) 2x)} .b{color:red}',
         ".a{background:none} .b{color:red}"),
        ('@import"https://tracker.test/p.css";\n.b{color:red}', "\n.b{color:red}"),
        ("@import/**/url(https://tracker.test/p.css) screen;\n.b{color:red}", "\n.b{color:red}"),
        # no ";" before the next rule: the import goes, the rule stays whole
        ("@import url(https://tracker.test/p.css)\n@media screen{.b{color:red;}}", "\n@media screen{.b{color:red;}}"),
        ('.a{background:image-set("https://tracker.test/p" type("image/avif"))} .b{color:red}',
         ".a{background:none} .b{color:red}"),
        (".a{background:url(https://cdn.test/a/*) ; background:url(https://tracker.test/p)}",
         ".a{background:url(https://cdn.test/a/*) ; background:none}"),
    ],
)  # fmt: skip
def test_mail_clean_removes_each_load_of_a_tracker_and_nothing_else(
    judge: Judge, css: str, cleaned: str
) -> None:
    out, counts = clean_html(f"<style>{css}</style>", judge)
    assert (out, counts.pixels) == (f"<style>{cleaned}</style>", 1)
    attr = css.replace('"', "&quot;")
    if not css.startswith("@"):  # a style attribute holds declarations, not rules
        decls = attr[attr.index("{") + 1 : attr.index("}")]
        out, counts = clean_html(f'<td style="{decls}">x</td>', judge)
        assert counts.pixels == 1 and "tracker" not in out.replace("cdn.test", "")


@pytest.mark.parametrize(
    "css",
    ['.a{content:"url(https://tracker.test/p)"}', "/* url(https://tracker.test/p) */ .b{color:red}"],
)
def test_what_loads_nothing_is_left_as_it_was(judge: Judge, css: str) -> None:
    assert clean_html(f"<style>{css}</style>", judge)[0] == f"<style>{css}</style>"


@pytest.mark.timeout(60)  # linear: a second or two here at most
@pytest.mark.parametrize(
    "css",
    [
        "\\" * 300_000,
        '"' + '\\"' * 150_000,  # one string of escaped quotes, never closed
        "/*" * 150_000,
        "image-set(" * 100_000,
        'image-set("' * 60_000,
        "image-set(url(" * 50_000,
        "@import " * 100_000,
        "@import url(" * 60_000,
        r"u\72l(" * 60_000,
        r"url(https://tracker.test/\61 " * 50_000,
        "@font-face{" * 100_000,
        "url(/*" * 60_000,
    ],
    ids=lambda css: css[:12],
)
def test_hostile_css_is_read_in_linear_time(judge: Judge, css: str) -> None:
    found = loads(css)
    assert all(0 <= load.start < load.end <= len(css) for load in found)
    out, _counts = clean_html(f"<style>{css}</style>", judge)
    assert out.startswith("<style>") and out.endswith("</style>")


@pytest.mark.parametrize(
    "style",
    [
        r"d\isplay:/**/none",
        r"visibility:hid\64 en",
        "width:1px;/* a note */height:1px",
        r"w\69 dth:0;height:0",
    ],
)
def test_a_pixel_hidden_or_sized_in_another_spelling_is_still_a_pixel(judge: Judge, style: str) -> None:
    html = f'<img src="https://esp.test/open/abc" style="{style}">'
    assert [bool(f.pixel) for f in scan.find_images(html)] == [True]
    out, counts = clean_html(html, judge)
    assert (out, counts.pixels) == ("", 1)


@pytest.mark.timeout(60)  # linear: well under a second here
def test_hostile_style_attributes_are_read_in_linear_time(judge: Judge) -> None:
    for style in ("/*" * 150_000, "\\" * 300_000, "a:b;" * 100_000 + "/*"):
        html = f'<img src="https://esp.test/o" style="{style}">'
        assert len(scan.find_images(html)) == 1
