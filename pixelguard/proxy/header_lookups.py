"""A header looked up by its name in one pass over a message's fields, without a list and an exception each.

mitmproxy's ``Headers`` is a multidict. ``headers.get(name)`` goes through ``Mapping.get``, which asks
``headers[name]``; that builds the list of every value under the name (``get_all``: a method call per field to
lower its name, then each value decoded), folds it, and raises ``KeyError`` when it is empty, which ``Mapping.get``
catches; ``name in headers`` takes the same way. mitmproxy asks each message for ``content-length`` and
``transfer-encoding`` several times (``expected_http_body_size``, when a message's head is read, when it ends and
when its body's size is checked), mostly for headers a GET and its small answer do not have. In a py-spy profile
under `scripts/bench-pageload` (stop 65) those look-ups were 5% of the proxy's busy time over plain HTTP and 2% over
HTTPS; done here they take about a third of the time.

The answers are mitmproxy's: names compared as bytes lowered (ASCII letters only), a ``str`` name encoded as it
encodes one (UTF-8, surrogateescape), the values of a name found more than once folded with ", ", ``KeyError`` for
a name not there. A name that is neither ``str`` nor ``bytes`` goes to mitmproxy's own look-up, with its own error.
Replaced only on a mitmproxy whose ``Headers`` looks up, folds and lowers as that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_MISSING = object()


def _lookup(fallback: Callable[[Any, Any], Any]) -> Callable[[Any, Any, Any], Any]:
    """The value under a header's name, or ``missing`` when there is none; ``fallback`` answers other names."""

    def lookup(headers: Any, name: Any, missing: Any) -> Any:
        if type(name) is str:
            key = name.encode("utf-8", "surrogateescape").lower()
        elif type(name) is bytes:
            key = name.lower()
        else:  # a subclass, None or anything else: as mitmproxy answers it
            try:
                return fallback(headers, name)
            except KeyError:
                return missing
        found = [value for field, value in headers.fields if field.lower() == key]
        if not found:
            return missing
        if len(found) == 1:
            return found[0].decode("utf-8", "surrogateescape")
        return ", ".join([value.decode("utf-8", "surrogateescape") for value in found])

    return lookup


def look_up_in_one_pass() -> bool:
    """Give mitmproxy's ``Headers`` the look-ups of this module (see its text); True when they were given."""
    from mitmproxy import http
    from mitmproxy.coretypes import multidict

    headers = http.Headers
    if getattr(headers, "pixelguard_lookups", False):
        return True
    as_measured = (
        headers.__getitem__ is multidict._MultiDict.__getitem__
        and headers.get is Mapping.get
        and headers.__contains__ is Mapping.__contains__
        and headers._kconv(b"Content-Length") == b"content-length"
        and headers._reduce_values(["a", "b"]) == "a, b"
    )
    if not as_measured:
        return False
    lookup = _lookup(headers.__getitem__)

    def __getitem__(self: Any, name: Any) -> Any:
        value = lookup(self, name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def get(self: Any, name: Any, default: Any = None) -> Any:
        return lookup(self, name, default)

    def __contains__(self: Any, name: Any) -> bool:
        return lookup(self, name, _MISSING) is not _MISSING

    headers.__getitem__ = __getitem__  # type: ignore[method-assign]
    headers.get = get  # type: ignore[method-assign]
    headers.__contains__ = __contains__  # type: ignore[method-assign]
    headers.pixelguard_lookups = True  # type: ignore[attr-defined]
    return True
