"""Ground truth from real newsletters: the bundled lists alone stop every open-tracking pixel, and no content image.

../shared/emails/unspy/ holds newsletters received by two accounts (u1/u2). Pairing the images of the two copies
by position, an image URL that differs carries a per-recipient identifier; one whose width/height attributes are
at most 2 (or absent) is an open-tracking pixel. Everything else (same URL in both copies, or larger than 2x2 by
its attributes) is content. This module derives that ground truth independently of pixelguard.scan (stdlib
``email`` with policy.default, ``html.parser``) so that the scanner is measured against it, not against itself.
"""

from __future__ import annotations

import email
from email import policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
from shared_data import shared_path

from pixelguard.config import bundled_filters_dir
from pixelguard.engine import Engine

EXPECTED_PIXELS = 14  # counted by hand over the corpus when it was added


class _Imgs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str | None, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            a = dict(attrs)
            if a.get("src"):
                self.found.append((a["src"].strip(), a.get("width"), a.get("height")))


def images_of(path: Path) -> list[tuple[str, str | None, str | None]]:
    """(src, width, height) of every <img> in the message's HTML parts, in document order."""
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    out = []
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            p = _Imgs()
            p.feed(part.get_content())
            p.close()
            out += p.found
    return out


def _small(value: str | None) -> bool:
    if value is None:
        return True
    digits = value.strip().removesuffix("px")
    return digits.isdigit() and int(digits) <= 2


def pairs(unspy: Path) -> list[tuple[Path, Path]]:
    out = []
    for u1 in sorted(unspy.glob("*u1.eml")):
        u2 = u1.with_name(u1.name[: -len("u1.eml")] + "u2.eml")
        if u2.is_file():
            out.append((u1, u2))
    return out


def ground_truth(unspy: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(pixels, content): (file, url) of every open-tracking pixel and every content image in both copies."""
    pixels, content = [], []
    for u1, u2 in pairs(unspy):
        a, b = images_of(u1), images_of(u2)
        assert len(a) == len(b), f"{u1.name}: copies differ in image count; pairing by position is invalid"
        for (src1, w, h), (src2, _, _) in zip(a, b, strict=True):
            if not src1.startswith(("http://", "https://")):
                continue
            if src1 != src2 and _small(w) and _small(h):
                pixels += [(u1, src1), (u2, src2)]
            elif src1 == src2 or not (_small(w) and _small(h)):
                content += [(u1, src1), (u2, src2)]
    return pixels, content


@pytest.fixture(scope="module")
def truth() -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    return ground_truth(shared_path("emails", "unspy"))


@pytest.fixture(scope="module")
def bundled() -> Engine:
    d = bundled_filters_dir()
    return Engine.from_files([d / "pixelguard-ads.txt", d / "pixelguard-email.txt"])


def test_ground_truth_finds_the_known_pixels(truth: tuple[list, list]) -> None:
    pixels, _ = truth
    pixel_pairs = len(pixels) // 2
    assert pixel_pairs == EXPECTED_PIXELS, [u for _, u in pixels]


def test_bundled_lists_block_every_open_tracking_pixel(truth: tuple[list, list], bundled: Engine) -> None:
    pixels, _ = truth
    missed = [(f.name, url) for f, url in pixels if not bundled.check(url, resource_type="image").blocked]
    caught_pairs = (len(pixels) - len(missed)) // 2
    # Recall per pixel (a pixel counts once, both recipients' copies must be blocked).
    print(f"\nrecall: {caught_pairs}/{len(pixels) // 2} open-tracking pixels blocked by the bundled lists")
    assert not missed, missed


def test_bundled_lists_block_no_content_image(truth: tuple[list, list], bundled: Engine) -> None:
    _, content = truth
    assert len(content) > 100  # the corpus has hundreds; a parsing slip that finds none must not pass
    wrong = []
    for f, url in content:
        v = bundled.check(url, resource_type="image")
        if v.blocked:
            wrong.append((f.name, url, v.rule))
    assert not wrong, wrong
