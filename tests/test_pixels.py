"""pixels.dimensions: every format's size from its header; garbage and truncation give None, never raise."""

from __future__ import annotations

import random

import pytest
from imagedata import BUILDERS

from pixelguard.decision import image_size as pixels

FORMATS = sorted(BUILDERS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("size", [(1, 1), (2, 1), (250, 200), (1, 40)])
def test_dimensions_of_each_format(fmt: str, size: tuple[int, int]) -> None:
    assert pixels.dimensions(BUILDERS[fmt](*size)) == (fmt, *size)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_pixel_is_within_the_limits(fmt: str) -> None:
    def pixel(data: bytes, w: int, h: int) -> bool:
        size = pixels.dimensions(data)
        return size is not None and pixels.within(size, w, h)

    assert pixel(BUILDERS[fmt](1, 1), 2, 2)
    assert not pixel(BUILDERS[fmt](3, 1), 2, 2)
    assert pixel(BUILDERS[fmt](3, 1), 3, 1)
    assert not pixel(BUILDERS[fmt](250, 200), 2, 2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_truncation_is_none_or_the_true_size(fmt: str) -> None:
    data = BUILDERS[fmt](250, 200)
    for cut in range(len(data)):
        got = pixels.dimensions(data[:cut])
        # Cut before the size fields: unknown. Never a wrong (e.g. 0x0 or 1x1) size.
        assert got is None or got == (fmt, 250, 200), (cut, got)


def test_truncated_one_pixel_header_is_not_a_pixel() -> None:
    assert pixels.dimensions(BUILDERS["png"](1, 1)[:20]) is None
    assert pixels.dimensions(b"GIF89a\x01") is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"hello world",
        b"<html><body>x</body></html>",
        b"<svg>",
        b"<svg width='1'>",
        b"BM",
        b"\x00\x00\x01\x00",
    ],
)
def test_non_images_are_none(data: bytes) -> None:
    assert pixels.dimensions(data) is None


def test_random_garbage_never_raises() -> None:
    rng = random.Random(4)
    magics = [
        b"GIF89a",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"RIFF\x00\x00\x00\x00WEBP",
        b"BM",
        b"\x00\x00\x01\x00",
    ]
    for _ in range(3000):
        data = rng.choice(magics) + rng.randbytes(rng.randrange(0, 80))
        got = pixels.dimensions(data)
        assert got is None or (got.width > 0 and got.height > 0)


def test_svg_units_and_percent() -> None:
    assert pixels.dimensions(b'<svg xmlns="x" width="1px" height="1px"></svg>') == ("svg", 1, 1)
    assert pixels.dimensions(b'<svg width="100%" height="100%"></svg>') is None
    assert pixels.dimensions(b'  \n<!-- c --><svg height="2" width="1"/>') == ("svg", 1, 2)


def test_sniff() -> None:
    assert pixels.sniff(BUILDERS["webp"](1, 1)) == "webp"
    assert pixels.sniff(b"plain text") is None
