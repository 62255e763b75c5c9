"""Bodies as the pipeline reads them: a held body's view, and a streamed body's head and rolling tail, in bounded
memory whatever the chunking."""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pixelguard.decision.bodies import EMPTY, StreamedBody, head, view_of
from pixelguard.limits import BODY_HOLD, BODY_INFLATE, BODY_TAIL


def test_a_held_body_is_viewed_whole_with_its_type() -> None:
    v = view_of(b"a=1&b=2", "application/x-www-form-urlencoded")
    assert (v.data, v.size, v.complete, v.content_type, v.text) == (
        b"a=1&b=2", 7, True, "application/x-www-form-urlencoded", "a=1&b=2",
    )  # fmt: skip
    assert view_of(b"") is EMPTY and view_of(None) is EMPTY and EMPTY.text == ""


def test_a_big_held_body_is_viewed_up_to_the_hold() -> None:
    v = view_of(b"x" * BODY_HOLD + b"y")
    assert v.data == b"x" * BODY_HOLD and v.size == BODY_HOLD + 1 and not v.complete
    exact = view_of(b"x" * BODY_HOLD)
    assert exact.complete and exact.size == BODY_HOLD


def test_content_encoding_is_undone_and_identity_is_no_encoding() -> None:
    body = b'{"a": 1}'
    assert view_of(gzip.compress(body), "", "gzip").data == body
    assert view_of(gzip.compress(body), "", " GZip ").data == body
    for same in ("", "identity", "IDENTITY", " identity "):
        assert view_of(body, "", same).data == body
    assert view_of(b"not gzip at all", "", "gzip").data == b"not gzip at all"  # broken: the bytes as sent
    assert view_of(body, "", "x-unknown").data == body


def test_head_undoes_codings_from_the_last_applied() -> None:
    body = b"hello world" * 10
    both = zlib.compress(gzip.compress(body))  # gzip first, then deflate
    assert head(both, "gzip, deflate", 1000) == body
    assert head(gzip.compress(body), "identity, gzip", 1000) == body
    assert head(gzip.compress(body), "gzip,identity", 1000) == body
    assert head(gzip.compress(body), "gzip", 5) == b"hello"
    assert head(body, "br, x-unknown", 100) is None
    assert head(gzip.compress(b"\0" * (8 << 20)), "gzip", BODY_INFLATE) == b"\0" * BODY_INFLATE


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3 * BODY_HOLD), st.lists(st.integers(1, 200_000), min_size=1, max_size=20))
def test_a_streamed_body_keeps_its_head_and_last_bytes_whatever_the_chunking(
    size: int, cuts: list[int]
) -> None:
    body = bytes(i % 251 for i in range(size))
    s = StreamedBody("text/plain")
    at = 0
    for cut in cuts * (size // max(sum(cuts), 1) + 1):
        if at >= size:
            break
        s.feed(body[at : at + cut])
        at += cut
    s.feed(body[at:])
    v = s.view(complete=True)
    assert v.size == size and v.content_type == "text/plain"
    assert bytes(s.head) == body[:BODY_HOLD]
    past = body[BODY_HOLD:]
    assert bytes(s.tail[-BODY_TAIL:]) == past[-BODY_TAIL:] and len(s.tail) <= 2 * BODY_TAIL
    assert v.data == body[:BODY_HOLD] + (b"\n" + past[-BODY_TAIL:] if past else b"")
    assert v.complete is (size <= BODY_HOLD)
    assert not s.view(complete=False).complete
    # What no stage reads: the bytes between the head and the last BODY_TAIL, none when those two cover it.
    assert s.unread == v.unread == max(0, size - BODY_HOLD - BODY_TAIL)


def test_a_streamed_body_is_complete_only_when_it_has_ended_and_fits() -> None:
    s = StreamedBody()
    s.feed(b"abc")
    assert s.view(complete=True).complete and not s.view(complete=False).complete
    assert not s.head_full
    s.feed(b"x" * BODY_HOLD)
    assert s.head_full and not s.view(complete=True).complete


def test_a_compressed_streamed_body_is_viewed_through_its_head() -> None:
    body = b"event=1&" * 10_000
    packed = gzip.compress(body)
    s = StreamedBody("text/plain", "gzip")
    s.feed(packed)
    v = s.view(complete=True)
    assert v.data == body and v.size == len(packed) and v.content_type == "text/plain"
    assert v.unread == 0  # it fits in the head
    big = StreamedBody("text/plain", "gzip")
    big.feed(b"\x1f\x8b" + bytes(range(256)) * (BODY_HOLD // 128))  # 2 * BODY_HOLD of what will not inflate
    # Its end cannot be inflated without what comes before it: all past the head goes unread.
    assert big.unread == big.size - BODY_HOLD == big.view(complete=True).unread


def test_a_body_arriving_a_byte_at_a_time_keeps_a_bounded_tail() -> None:
    s = StreamedBody()
    s.feed(b"x" * BODY_HOLD)
    for i in range(3 * BODY_TAIL):
        s.feed(bytes([i % 256]))
        assert len(s.tail) <= 2 * BODY_TAIL
    assert s.size == BODY_HOLD + 3 * BODY_TAIL
    assert bytes(s.tail[-BODY_TAIL:]) == bytes(i % 256 for i in range(2 * BODY_TAIL, 3 * BODY_TAIL))


def test_raw_deflate_is_read_as_browsers_read_it() -> None:
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = b"payload=1&" * 50
    packed = raw.compress(body) + raw.flush()
    assert head(packed, "deflate", 10_000) == body
    assert head(zlib.compress(body), "deflate", 10_000) == body


def test_inflating_stops_at_the_limit_in_memory_too() -> None:
    import tracemalloc

    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    tracemalloc.start()
    out = head(bomb, "deflate", 1 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out == b"\0" * (1 << 20) and peak < 4 << 20, f"peak {peak >> 20} MB for a 1 MB limit"


def test_a_compressed_streamed_body_that_fits_is_complete() -> None:
    s = StreamedBody("", "gzip")
    s.feed(gzip.compress(b"small"))
    v = s.view(complete=True)
    assert v.complete is True and v.data == b"small"
