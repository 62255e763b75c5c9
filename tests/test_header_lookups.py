"""Header look-ups in one pass (proxy/header_lookups.py): the same answers and errors as mitmproxy's own, for any
fields and any name, and the replacement left alone on a Headers it was not written for."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.coretypes import multidict

from pixelguard.proxy import header_lookups

_REPLACED = ("__getitem__", "get", "__contains__", "pixelguard_lookups")
_own_getitem = multidict._MultiDict.__getitem__  # what Headers inherits for headers[name]


def _own_get(headers: http.Headers, name: Any, default: Any = None) -> Any:
    """Mapping.get, which Headers inherits, on mitmproxy's own ``[]`` (Mapping.get itself would ask ours)."""
    try:
        return _own_getitem(headers, name)
    except KeyError:
        return default


def _own_contains(headers: http.Headers, name: Any) -> bool:
    """Mapping.__contains__, which Headers inherits, on mitmproxy's own ``[]``."""
    try:
        _own_getitem(headers, name)
    except KeyError:
        return False
    return True


_OWN = {"getitem": _own_getitem, "get": _own_get, "contains": _own_contains}


@pytest.fixture
def mitmproxys() -> Iterator[dict[str, Any]]:
    """Headers with mitmproxy's own look-ups during the test (a proxy started in this process replaces them), and
    as it was after it."""
    saved = {name: vars(http.Headers)[name] for name in _REPLACED if name in vars(http.Headers)}
    for name in saved:
        delattr(http.Headers, name)
    assert (http.Headers.__getitem__, http.Headers.get, http.Headers.__contains__) == (
        _own_getitem,
        Mapping.get,
        Mapping.__contains__,
    )
    yield _OWN
    for name in _REPLACED:
        if name in vars(http.Headers):
            delattr(http.Headers, name)
    for name, value in saved.items():
        setattr(http.Headers, name, value)


def _answer(call: Any) -> tuple[str, Any]:
    try:
        return "value", call()
    except Exception as e:  # the same exception type and text as mitmproxy's is part of the answer
        return type(e).__name__, str(e)


_NAMES = [
    b"Content-Length",
    b"content-length",
    b"CONTENT-LENGTH",
    b"Transfer-Encoding",
    b"Host",
    b"X-\xc3\xa9",
    b"X-\xff",
]
_name_bytes = st.one_of(st.sampled_from(_NAMES), st.binary(min_size=1, max_size=6))
_fields = st.lists(st.tuples(_name_bytes, st.binary(max_size=8)), max_size=6)
_asked = st.one_of(
    _name_bytes,
    _name_bytes.map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.text(max_size=6),
    st.sampled_from([None, 3, bytearray(b"host")]),
)


# The fixture is not reset between examples, nor need it be: each compares with mitmproxy's own look-ups, which
# do not go through the replaced methods.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=_fields, asked=_asked)
def test_every_look_up_answers_as_mitmproxys_own(
    mitmproxys: dict[str, Any], fields: list, asked: Any
) -> None:
    headers = http.Headers(fields)
    own = (
        _answer(lambda: mitmproxys["getitem"](headers, asked)),
        _answer(lambda: mitmproxys["get"](headers, asked)),
        _answer(lambda: mitmproxys["get"](headers, asked, "default")),
        _answer(lambda: mitmproxys["contains"](headers, asked)),
    )
    assert header_lookups.look_up_in_one_pass()
    ours = (
        _answer(lambda: headers[asked]),
        _answer(lambda: headers.get(asked)),
        _answer(lambda: headers.get(asked, "default")),
        _answer(lambda: asked in headers),
    )
    assert ours == own


def test_a_folded_header_and_a_missing_one(mitmproxys: dict[str, Any]) -> None:
    assert header_lookups.look_up_in_one_pass()
    headers = http.Headers([(b"Accept", b"text/html"), (b"Host", b"a.example"), (b"accept", b"image/\xff")])
    # Folded, and bytes that are no UTF-8 kept as mitmproxy keeps them.
    assert headers["ACCEPT"] == "text/html, image/\udcff"
    assert headers.get(b"host") == "a.example"
    assert headers.get("content-length") is None and "content-length" not in headers
    with pytest.raises(KeyError):
        headers["transfer-encoding"]
    headers["Content-Length"] = "0"  # setting goes through mitmproxy's own code, and is found at once
    assert headers["content-length"] == "0" and "Content-Length" in headers


def test_left_alone_on_headers_that_fold_otherwise(
    mitmproxys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http.Headers, "_reduce_values", staticmethod(lambda values: "; ".join(values)))
    assert not header_lookups.look_up_in_one_pass()
    assert http.Headers.get is Mapping.get
    assert http.Headers([(b"A", b"1"), (b"a", b"2")])["a"] == "1; 2"
