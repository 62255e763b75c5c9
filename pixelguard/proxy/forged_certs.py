"""Forged certificates kept least recently used out, at the same small cost for every new host.

mitmproxy's CertStore keeps the certificates it forges in a dict and, once it holds ``STORE_CAP`` of them, drops
the oldest by building that dict again, comparing each entry to the one dropped. Entries are dataclasses, so each
comparison compares certificates, and a certificate compares by its SHA-256 fingerprint, computed anew each time.
With the 2,048 kept (limits.FORGED_CERTS) that was about 40 ms of the event loop, during which no other request
moves, for every host the proxy meets after its 2,048th: a proxy that runs for days got slower the longer it ran
(`scripts/bench-soak --https` fell from 107 to 23 requests/s; `tests/test_forged_certs.py` counts the comparisons
and prints what a new host costs now). It also dropped the certificate forged first, not the one used
least long ago, so a site in use all day was forged again while hosts seen once were kept.

Here the forged certificates are kept in the order of their last use, and the least recently used one is dropped
by its key, in constant time. Certificates the user gives (``--set certs=``) are never dropped, as before.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


def keep_least_recently_used() -> None:
    """Make mitmproxy's CertStore keep its forged certificates least recently used out (see the module)."""
    from mitmproxy import certs

    if getattr(certs.CertStore, "pixelguard_lru", False):
        return
    get_cert = certs.CertStore.get_cert

    def lru_get_cert(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Whatever mitmproxy's version passes (12 added crl_url) goes on to its own get_cert.
        entry = get_cert(self, *args, **kwargs)
        order, key_of = _kept(self)
        key = key_of.get(id(entry))
        if key is not None:  # a forged one (a certificate the user gave has no place in the order)
            order.move_to_end(key)
        return entry

    def lru_expire(self: Any, entry: Any) -> None:
        order, key_of = _kept(self)
        # get_cert calls this right after it stores the new entry, under its one key: the dict's last.
        key = next(reversed(self.certs))
        if self.certs[key] is not entry:  # not the order this was written for: look for it (rarely, if ever)
            key = next(k for k, v in self.certs.items() if v is entry)
        order[key] = entry
        key_of[id(entry)] = key  # an id is unique while the entry is kept, and it is kept in `order`
        if len(order) > self.STORE_CAP:
            old_key, old = order.popitem(last=False)
            del key_of[id(old)]
            self.certs.pop(old_key, None)

    certs.CertStore.get_cert = lru_get_cert  # type: ignore[method-assign]
    certs.CertStore.expire = lru_expire  # type: ignore[method-assign]
    certs.CertStore.pixelguard_lru = True  # type: ignore[attr-defined]


def _kept(store: Any) -> tuple[OrderedDict[Any, Any], dict[int, Any]]:
    """A store's forged entries in order of use (key -> entry) and each entry's key by its id."""
    kept = store.__dict__.get("_pixelguard_forged")
    if kept is None:
        kept = store.__dict__["_pixelguard_forged"] = (OrderedDict(), {})
    return kept
