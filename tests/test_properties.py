"""Property-based tests: whatever the input, no exception escapes, the answer comes in bounded time and memory.

Targets: the rule parser, engine.check, pixels, compression, scan (HTML, CSS, whole messages), written URLs, config
loading and duration parsing: everything that reads what a website, a mail sender, a list author or a user types.
In the suite they run derandomized (the same inputs every run) and small; ``scripts/fuzz`` runs the same
targets for as long as it is given (hypothesis's fuzz_one_input fed random bytes).
"""

from __future__ import annotations

import email
import logging
import time
import tracemalloc
from collections.abc import Callable
from email import policy
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imagedata import BUILDERS

from pixelguard import css_loads, scan
from pixelguard.decision import bodies as compression
from pixelguard.decision import image_size as pixels
from pixelguard.durations import parse_duration
from pixelguard.engine import Engine
from pixelguard.engine import rules as R
from pixelguard.errors import ConfigError
from pixelguard.written_urls import fetched_url

settings.register_profile(
    "suite",
    max_examples=300,
    derandomize=True,
    deadline=None,  # timing is asserted below with a generous bound, not per example by hypothesis
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("suite")

BOUND_S = 2.0  # per example; every target answers in milliseconds
MEMORY_MB = 64


def bounded(fn: Callable[[], object]) -> object:
    """Run fn; fail if it takes longer than BOUND_S or allocates more than MEMORY_MB at its peak."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        return fn()
    finally:
        took = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert took < BOUND_S, f"took {took:.2f} s"
        assert peak < MEMORY_MB << 20, f"peak {peak >> 20} MB"


# Text shaped like filter syntax: the characters that matter there, plus anything.
SYNTAX = st.text(
    alphabet=st.sampled_from(list("|^*$@#!~,=/.-_?&%[]()\\ \tab1:{}+'\"")) | st.characters(), max_size=300
)
URLS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["http", "https", "ws", "HTTP", "ftp", ""]),
    st.text(alphabet=st.sampled_from(list("abc.-_[]:%0 \x00é")), max_size=60),
    SYNTAX,
)
TYPES = st.sampled_from([None, "image", "script", "document", "xhr", "other", "nonsense", ""])


@given(SYNTAX)
def test_rule_parser_never_raises(line: str) -> None:
    out = bounded(lambda: R.parse_line(line.strip()))
    assert isinstance(out, list | R.Skip | R.Malformed)
    # The parser's safety net (a crash made a Malformed, so that a list still loads) must never be what answered.
    assert not (isinstance(out, R.Malformed) and out.reason.startswith(R.PARSER_BUG)), out
    assert R.validate(line) is None or isinstance(R.validate(line), str)


@given(
    st.lists(SYNTAX, max_size=8),
    URLS,
    st.one_of(st.none(), URLS),
    TYPES,
    st.sampled_from([None, "GET", "post", "x"]),
)
def test_engine_check_never_raises(
    lines: list[str], url: str, source: str | None, rtype: str | None, method: str | None
) -> None:
    log_records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = log_records.append  # type: ignore[method-assign]
    logging.getLogger("pixelguard.engine").addHandler(handler)
    try:
        engine = Engine.from_text("\n".join(lines))
        v = bounded(lambda: engine.check(url, source, rtype, method))
        bounded(lambda: engine.check_host(url[:100]))
        bounded(lambda: engine.removeparams(url, source, rtype))
    finally:
        logging.getLogger("pixelguard.engine").removeHandler(handler)
    assert isinstance(v.blocked, bool)
    # check() fails open on its own bugs and logs them: a logged failure is a bug found.
    assert not [r for r in log_records if r.levelno >= logging.ERROR], [r.getMessage() for r in log_records]


@given(
    st.binary(max_size=2048)
    | st.builds(
        lambda h, b: h + b,
        st.sampled_from(
            [
                b"GIF89a",
                b"\x89PNG\r\n\x1a\n",
                b"\xff\xd8\xff",
                b"RIFF\0\0\0\0WEBP",
                b"BM",
                b"\0\0\1\0",
                b"<svg ",
            ]
        ),
        st.binary(max_size=512),
    )
)
def test_pixels_never_raise(data: bytes) -> None:
    # dimensions catches only what garbage makes a header parser raise: a bug would fail here.
    size = bounded(lambda: pixels.dimensions(data))
    assert size is None or (size.format in pixels.FORMATS and size.width > 0 and size.height > 0)


@given(st.sampled_from(sorted(BUILDERS)), st.integers(1, 5000), st.integers(1, 5000), st.binary(max_size=64))
def test_an_image_sizes_as_what_it_declares_whatever_follows_its_header(
    fmt: str, width: int, height: int, tail: bytes
) -> None:
    if fmt == "ico":  # ICO keeps each side in one byte (0 meaning 256)
        width, height = min(width, 256), min(height, 256)
    data = BUILDERS[fmt](width, height) if fmt not in ("png", "bmp") or width * height < 100_000 else None
    if data is None:  # complete PNG/BMP bodies of that size are big: a header is what is read
        data = BUILDERS[fmt](1, 1)
        width = height = 1
    size = pixels.dimensions(data + tail)
    assert size is not None and (size.format, size.width, size.height) == (fmt, width, height)


@given(
    st.binary(max_size=4096), st.sampled_from(["gzip", "deflate", "br", "zstd", "gzip, br", "identity", "x"])
)
def test_compression_head_is_bounded(data: bytes, encoding: str) -> None:
    out = bounded(lambda: compression.head(data, encoding, 1024))
    assert out is None or len(out) <= 1024


HTML = st.text(
    alphabet=st.sampled_from(list("<>/=\"' imgsrcurl()style:;width1px@import#&;x\\*{}-aeg"))
    | st.characters(),
    max_size=500,
)


@given(HTML)
def test_scan_html_and_css_never_raise(html: str) -> None:
    images = bounded(lambda: scan.find_images(html))
    assert all(isinstance(i.url, str) for i in images)  # type: ignore[union-attr]
    found = bounded(lambda: css_loads.loads(html))
    # Spans mail clean can cut: inside the text, in order (an image-set's images share one).
    assert all(0 <= f.start < f.end <= len(html) for f in found)  # type: ignore[union-attr]
    assert [f.start for f in found] == sorted(f.start for f in found)  # type: ignore[union-attr]


@given(st.binary(max_size=3000))
def test_scan_message_never_raises(raw: bytes) -> None:
    class Nothing:
        def check(self, url: str, source_url: str | None = None, resource_type: str | None = None):  # type: ignore[no-untyped-def]
            return Engine.from_text("").check(url, source_url, resource_type)

    def run() -> object:
        msg = email.message_from_bytes(raw, policy=policy.default)
        return scan.scan_message(msg, Nothing(), "fuzz.eml")

    bounded(run)


@given(URLS | SYNTAX | st.text(alphabet=st.sampled_from(list("hts:/\\\t\n %2e.a。ａ@[]?#")), max_size=40))
def test_a_written_url_is_read_once_for_all(text: str) -> None:
    # What a client would fetch is an http(s) URL in ASCII with nothing a terminal could take for a control, and
    # reading it again changes nothing: scan, mail clean and check can compare what they read.
    url = bounded(lambda: fetched_url(text))
    if url is not None:
        assert isinstance(url, str) and url.startswith(("http://", "https://"))
        assert url.isascii() and url.isprintable() and " " not in url
        assert fetched_url(url) == url


YAML = st.text(
    alphabet=st.sampled_from(list("proxy:port{}[]-!&*|>'\"#\n 0123456789abcdefghijklmnopqrstuvwxyz.,?")),
    max_size=300,
)


@given(YAML)
def test_config_load_raises_only_config_errors(text: str) -> None:
    import tempfile

    from pixelguard import config

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            bounded(lambda: config.load(path))
        except ConfigError as e:
            assert "\n" not in str(e).strip()  # one line, naming the file


@given(st.text(max_size=60) | st.from_regex(r"\A[0-9]{1,30}[smhdw]([0-9]{1,30}[smhdw])?\Z"))
def test_durations_raise_only_value_errors(text: str) -> None:
    try:
        d = bounded(lambda: parse_duration(text))
    except ValueError as e:
        assert str(e)
    else:
        assert d.total_seconds() > 0  # type: ignore[union-attr]


TARGETS = [
    test_rule_parser_never_raises,
    test_engine_check_never_raises,
    test_pixels_never_raise,
    test_compression_head_is_bounded,
    test_scan_html_and_css_never_raise,
    test_scan_message_never_raises,
    test_a_written_url_is_read_once_for_all,
    test_config_load_raises_only_config_errors,
    test_durations_raise_only_value_errors,
]
