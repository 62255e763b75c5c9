"""The forged certificate and its key, converted to pyOpenSSL's objects once instead of at every handshake.

For every client connection mitmproxy's TlsConfig turns the host's forged certificate (``Cert.to_pyopenssl``: DER
out, parsed back in) and the key (``PKey.from_cryptography_key``: serialized, parsed back in) into the objects
pyOpenSSL hands to OpenSSL, although both are the same for every connection to that host. Under
`scripts/bench-pageload --https` the conversions were about 7% of the proxy's busy time (py-spy). OpenSSL counts
its references to both (``SSL_use_certificate``, ``SSL_use_PrivateKey``), so one object serves every connection.

Kept: the CONVERTED_CERTS certificates used last (each holds its Cert, so an id is never reused while kept) and
the keys (the CA's, and one per certificate given with ``--set certs=``), a handful.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pixelguard.limits import CONVERTED_CERTS

_KEYS_KEPT = 16


def convert_once() -> None:
    """Make mitmproxy's certificate and key conversions return the object made the first time (see the module)."""
    from mitmproxy import certs
    from OpenSSL import crypto

    if getattr(certs.Cert, "pixelguard_converted_once", False):
        return
    to_pyopenssl = certs.Cert.to_pyopenssl
    from_key = crypto.PKey.from_cryptography_key.__func__  # type: ignore[attr-defined]
    converted: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
    keys: dict[int, tuple[Any, Any]] = {}

    def cert_once(self: Any) -> Any:
        kept = converted.get(id(self))
        if kept is not None and kept[0] is self:
            converted.move_to_end(id(self))
            return kept[1]
        x509 = to_pyopenssl(self)
        converted[id(self)] = (self, x509)
        if len(converted) > CONVERTED_CERTS:
            converted.popitem(last=False)
        return x509

    def key_once(cls: Any, key: Any) -> Any:
        kept = keys.get(id(key))
        if kept is not None and kept[0] is key:
            return kept[1]
        pkey = from_key(cls, key)
        if len(keys) >= _KEYS_KEPT:
            keys.clear()
        keys[id(key)] = (key, pkey)
        return pkey

    certs.Cert.to_pyopenssl = cert_once  # type: ignore[method-assign]
    crypto.PKey.from_cryptography_key = classmethod(key_once)  # type: ignore[method-assign,assignment]
    certs.Cert.pixelguard_converted_once = True  # type: ignore[attr-defined]
