"""The first bytes of a compressed HTTP body, never more: what the pixel check needs and nothing a bomb can use.

An image's size is in its first few dozen bytes, so a compressed "image" is inflated only up to ``limit``
bytes, incrementally, and the rest is never decoded. A body of 1 KB that would inflate to gigabytes (brotli,
gzip, deflate or zstd) costs at most ``limit`` bytes of memory and the time to produce them. Brotli's Python
binding up to 1.1 cannot stop mid-input, so its input is fed a byte at a time: one byte yields at most one
meta-block (16 MB at most by the format; 8 MB seen with the worst input), and feeding stops at ``limit``.

``head`` returns None for an encoding it does not know or data that does not decode: the caller then leaves
the response alone, as it would any body it cannot size.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import brotli
import zstandard


def _zlib(data: bytes, limit: int, wbits: int) -> bytes:
    d = zlib.decompressobj(wbits)
    return d.decompress(data, limit)


def _deflate(data: bytes, limit: int) -> bytes:
    # "deflate" is zlib-wrapped by the RFC, raw deflate by many servers: try both, as browsers do.
    try:
        return _zlib(data, limit, zlib.MAX_WBITS)
    except zlib.error:
        return _zlib(data, limit, -zlib.MAX_WBITS)


def _gzip(data: bytes, limit: int) -> bytes:
    return _zlib(data, limit, 16 + zlib.MAX_WBITS)


def _brotli(data: bytes, limit: int) -> bytes:
    d = brotli.Decompressor()
    out = bytearray()
    for i in range(len(data)):
        out += d.process(data[i : i + 1])
        if len(out) >= limit or d.is_finished():
            break
    return bytes(out[:limit])


def _zstd(data: bytes, limit: int) -> bytes:
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
        return reader.read(limit)


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


def head(data: bytes, content_encoding: str, limit: int) -> bytes | None:
    """At most ``limit`` bytes of ``data`` decoded by Content-Encoding (codings applied left to right)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    out = data
    for coding in reversed(codings):  # the last coding applied is the first to undo
        if coding == "identity":
            continue
        decode = _DECODERS.get(coding)
        if decode is None:
            return None
        try:
            out = decode(out, limit)
        except (zlib.error, brotli.error, zstandard.ZstdError, ValueError, OSError):
            return None
    return out[:limit]
