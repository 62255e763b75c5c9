"""Bodies as the pipeline reads them: bounded views, and compressed bodies inflated only as far as needed.

A request body is read through a ``BodyView``: the whole body when it was held (up to ``limits.BODY_HOLD``),
else its first ``BODY_HOLD`` and last ``BODY_TAIL`` bytes (``StreamedBody`` collects them while the body streams
past), with its Content-Encoding undone up to ``BODY_INFLATE`` bytes. Nothing here keeps more than that.

The first bytes of a compressed HTTP body, never more: what the pixel check needs and nothing a bomb can use.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import brotli
import zstandard

from pixelguard.limits import BODY_HOLD, BODY_INFLATE, BODY_TAIL


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


def is_encoded(content_encoding: str) -> bool:
    """Is a body sent with this Content-Encoding compressed (or otherwise not its own bytes)?"""
    return content_encoding.strip().lower() not in ("", "identity")


@dataclass(frozen=True, slots=True)
class BodyView:
    """What the body stages may read of a request body."""

    data: bytes  # decoded (Content-Encoding undone, at most BODY_INFLATE bytes): the body, or its head + tail
    size: int  # bytes as sent (so far, for a streamed body)
    complete: bool  # ``data`` holds the whole body
    content_type: str = ""
    unread: int = 0  # bytes as sent that no stage reads: the middle of a streamed body (StreamedBody.unread)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace") if self.data else ""


EMPTY = BodyView(b"", 0, True)


def _decoded(raw: bytes, encoding: str) -> bytes:
    """raw with its Content-Encoding undone up to BODY_INFLATE; raw itself when it is not encoded, or when the
    coding is unknown or broken (a tracker sending garbage still gets its bytes looked at)."""
    out = head(raw, encoding, BODY_INFLATE)
    return raw if out is None else out


def view_of(raw: bytes | None, content_type: str = "", encoding: str = "") -> BodyView:
    """The view of a body held whole (at most BODY_HOLD bytes of it are read)."""
    if not raw:
        return EMPTY
    data = raw[:BODY_HOLD]
    return BodyView(_decoded(data, encoding), len(raw), len(raw) <= BODY_HOLD, content_type)


def views_of(chunks: Iterable[bytes], content_type: str = "", encoding: str = "") -> list[BodyView]:
    """The views of a body that the proxy's body stages decide on, in order (proxy/decider.py): a body of at most
    BODY_HOLD bytes, whole; a bigger one, which streams, by its head before any of it leaves, then by its head
    and last BODY_TAIL bytes before its end leaves. (The proxy's first view also holds the rest of the piece the
    network brought with the head's last bytes: how a body is cut into pieces is the network's, not known here.)
    Memory stays bounded however many chunks come."""
    streamed = StreamedBody(content_type, encoding)
    for chunk in chunks:
        streamed.feed(chunk)
    if streamed.size <= BODY_HOLD:
        return [view_of(bytes(streamed.head), content_type, encoding)]
    head = StreamedBody(content_type, encoding)
    head.feed(bytes(streamed.head))
    return [head.view(complete=False), streamed.view(complete=True)]


class StreamedBody:
    """Collects the head (BODY_HOLD) and a rolling tail (BODY_TAIL) of a body as it streams past, in bounded
    memory. A compressed body is viewed through its head only: its end cannot be inflated without the rest."""

    def __init__(self, content_type: str = "", encoding: str = ""):
        self.content_type = content_type
        self.encoding = encoding
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = BODY_HOLD - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            # Trimmed only when twice its size: a body arriving a byte at a time would otherwise shift the whole
            # tail for every byte (quadratic); this way each byte is moved at most once, amortised.
            if len(self.tail) > 2 * BODY_TAIL:
                del self.tail[: len(self.tail) - BODY_TAIL]

    @property
    def head_full(self) -> bool:
        return len(self.head) >= BODY_HOLD

    @property
    def encoded(self) -> bool:
        return is_encoded(self.encoding)

    @property
    def unread(self) -> int:
        """Bytes of the body so far that no stage reads: between its head and its last BODY_TAIL bytes, or, when
        it is compressed, all past its head (its end cannot be inflated without the rest)."""
        return max(0, self.size - len(self.head) - (0 if self.encoded else BODY_TAIL))

    def view(self, complete: bool) -> BodyView:
        whole = complete and not self.tail
        if self.encoded:
            data = _decoded(bytes(self.head), self.encoding)
        else:
            data = bytes(self.head) + (b"\n" + bytes(self.tail[-BODY_TAIL:]) if self.tail else b"")
        return BodyView(data, self.size, whole, self.content_type, self.unread)
