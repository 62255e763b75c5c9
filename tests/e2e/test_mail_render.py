"""A cleaned newsletter still renders as its sender laid it out: Debian's Chromium draws one message of
../shared/emails before and after `mail clean` (screenshots), and the page it parses has the same text and every
image but the pixels. Nothing is fetched: Chromium resolves no name at all here."""

from __future__ import annotations

import email
import os
import subprocess
from email import policy
from html.parser import HTMLParser
from pathlib import Path

import imagesize
import pytest
from shared_data import shared_path
from test_browser import required_tool

from pixelguard.config import bundled_filters_dir
from pixelguard.engine import Engine
from pixelguard.mail_clean import Judge, clean_message

pytestmark = pytest.mark.e2e


def _chromium(browser: str, profile: Path, url: str, *what: str) -> subprocess.CompletedProcess[str]:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
           "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=800,1600",
           "--virtual-time-budget=3000", *what, url]  # fmt: skip
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(profile)}
    )


class _Seen(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.images: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "title"):
            self._skip += 1
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text += data.split()


def _seen(dom: str) -> _Seen:
    p = _Seen()
    p.feed(dom)
    return p


def test_a_cleaned_newsletter_renders_with_the_same_text_and_every_image_but_the_pixels(
    tmp_path: Path,
) -> None:
    browser = required_tool("chromium", "chromium-browser", package="chromium")
    lists = [bundled_filters_dir() / f"pixelguard-{n}.txt" for n in ("ads", "email", "links")]
    engine = Engine.from_files([*lists, shared_path("filterlists", "easyprivacy.txt")])
    raw = next(shared_path("emails").rglob("*optimizely*wwf.u1.eml")).read_bytes()
    out = clean_message(raw, Judge(engine, frozenset({"pixelguard-links"})))
    assert out.counts.pixels >= 1

    def html_of(data: bytes) -> str:
        msg = email.message_from_bytes(data, policy=policy.default)
        (part,) = [p for p in msg.walk() if p.get_content_type() == "text/html"]
        return part.get_content()

    seen = {}
    for name, data in (("before", raw), ("after", out.data)):
        page = tmp_path / f"{name}.html"
        page.write_text(html_of(data), encoding="utf-8")
        shot = tmp_path / f"{name}.png"
        r = _chromium(browser, tmp_path / f"profile-{name}", page.as_uri(), f"--screenshot={shot}")
        assert shot.is_file() and imagesize.get(shot) == (800, 1600), r.stderr[-2000:]
        dom = _chromium(browser, tmp_path / f"profile-{name}", page.as_uri(), "--dump-dom")
        assert "<body" in dom.stdout, dom.stderr[-2000:]
        seen[name] = _seen(dom.stdout)
    assert seen["after"].text == seen["before"].text  # the message reads the same
    before, after = seen["before"].images, seen["after"].images
    rest = iter(before)
    assert all(src in rest for src in after)  # the images left are the message's, in their order
    assert len(before) - len(after) == out.counts.pixels  # and what went is what was counted
