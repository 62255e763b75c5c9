"""Image bytes → (format, width, height), read from the header only.

Tracking pixels are found by their declared size, so nothing here decodes pixel data: imagesize reads the
fixed header fields of GIF, PNG, JPEG, WebP and BMP; ICO and SVG (width/height attributes) are read here.
Garbage, truncated or unknown bytes give None, never an exception: a response we cannot size is left alone.
"""

from __future__ import annotations

import io
import re
import struct
from typing import NamedTuple

import imagesize

# A JPEG's size sits in its SOF segment, after EXIF/ICC segments that can be tens of KB; further than this
# and the body is no pixel anyway.
HEADER_LIMIT = 256 * 1024
_SVG_LIMIT = 4096
_SVG_TAG = re.compile(rb"<svg\b[^>]*>", re.IGNORECASE | re.DOTALL)
_SVG_ATTR = re.compile(rb"""\s(width|height)\s*=\s*(["'])\s*([0-9.]+)\s*(px)?\s*\2""", re.IGNORECASE)


class ImageSize(NamedTuple):
    format: str  # gif png jpeg webp bmp ico svg
    width: int
    height: int


FORMATS = ("gif", "png", "jpeg", "webp", "bmp", "ico", "svg")  # what sniff tells apart


def sniff(data: bytes) -> str | None:
    """The image format named by the leading magic bytes, or None."""
    head = bytes(data[:16])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ico"
    stripped = bytes(data[:_SVG_LIMIT]).lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"<" and b"<svg" in stripped.lower():
        return "svg"
    return None


def dimensions(data: bytes) -> ImageSize | None:
    """(format, width, height) from the header of ``data``, or None when it is not an image we can size."""
    try:
        fmt = sniff(data)
        if fmt is None:
            return None
        if fmt == "ico":
            size = _ico(data)
        elif fmt == "svg":
            size = _svg(data)
        else:
            size = imagesize.get(io.BytesIO(bytes(data[:HEADER_LIMIT])))
        if size is None:
            return None
        width, height = size
        if not (isinstance(width, int) and isinstance(height, int)) or width <= 0 or height <= 0:
            return None
        if fmt in ("gif", "png", "bmp") and not _complete_header(fmt, data):
            return None
        return ImageSize(fmt, width, height)
    except (ValueError, IndexError, struct.error, OverflowError, UnicodeDecodeError):
        # A header parser meeting garbage: not an image we can size. Anything else is a bug, and the pixel check
        # that called fails open loudly (and the property tests find it).
        return None


def _complete_header(fmt: str, data: bytes) -> bool:
    """imagesize reads fixed offsets; a body cut inside the header must not size as 0x0 or a random value."""
    need = {"gif": 10, "png": 24, "bmp": 26}[fmt]
    return len(data) >= need


def _ico(data: bytes) -> tuple[int, int] | None:
    # ICONDIR (6 bytes) then 16-byte entries; width/height byte 0 means 256. The largest entry is the size.
    if len(data) < 22:
        return None
    count = struct.unpack_from("<H", data, 4)[0]
    if count == 0:
        return None
    best = (0, 0)
    for i in range(min(count, (len(data) - 6) // 16)):
        w, h = data[6 + 16 * i], data[7 + 16 * i]
        best = max(best, (w or 256, h or 256))
    return best


def _svg(data: bytes) -> tuple[int, int] | None:
    tag = _SVG_TAG.search(bytes(data[:_SVG_LIMIT]))
    if not tag:
        return None
    attrs = {m.group(1).lower(): m.group(3) for m in _SVG_ATTR.finditer(tag.group(0))}
    if b"width" not in attrs or b"height" not in attrs:
        return None  # no size, or in %/em: the page decides, it is no fixed-size pixel
    return round(float(attrs[b"width"])), round(float(attrs[b"height"]))


def within(size: ImageSize, max_width: int, max_height: int) -> bool:
    """Is an image of this size a pixel (at most max_width x max_height)?"""
    return size.width <= max_width and size.height <= max_height
