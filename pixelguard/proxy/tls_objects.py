"""The forged certificate and its key, converted to pyOpenSSL's objects once instead of at every handshake.

For every client connection mitmproxy's TlsConfig hands pyOpenSSL the host's forged certificate and the key, and
pyOpenSSL converts each (``X509.from_cryptography``: DER out, parsed back in; ``PKey.from_cryptography_key``:
serialized, parsed back in) although both are the same for every connection to that host. mitmproxy 11 asks for
the conversion itself (``Cert.to_pyopenssl``); 12 passes cryptography's objects and ``use_certificate`` and
``use_privatekey`` convert them. Both end in those two pyOpenSSL constructors, so that is where the conversion is
kept. Under `scripts/bench-pageload --https` the conversions were about 7% of the proxy's busy time (py-spy) on
mitmproxy 11, 1.5% of it on 12 while only the key was kept. OpenSSL counts its references to both
(``SSL_use_certificate``, ``SSL_use_PrivateKey``), so one object serves every connection, and nothing in
mitmproxy or pixelguard changes an X509 once it is made (pyOpenSSL's ``add_extra_chain_cert`` copies).

Kept: the CONVERTED_CERTS certificates converted last (each entry holds the cryptography object, so an id is never
reused while kept) and the keys (the CA's, and one per certificate given with ``--set certs=``), a handful.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pixelguard.limits import CONVERTED_CERTS

_KEYS_KEPT = 16


def convert_once() -> None:
    """Make pyOpenSSL's conversions of a certificate and of a key return the object made the first time (see the
    module)."""
    from OpenSSL import crypto

    if getattr(crypto.X509, "pixelguard_converted_once", False):
        return
    from_cert = crypto.X509.from_cryptography.__func__  # type: ignore[attr-defined]
    from_key = crypto.PKey.from_cryptography_key.__func__  # type: ignore[attr-defined]
    converted: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
    keys: dict[int, tuple[Any, Any]] = {}

    def cert_once(cls: Any, cert: Any) -> Any:
        kept = converted.get(id(cert))
        if kept is not None and kept[0] is cert:
            converted.move_to_end(id(cert))
            return kept[1]
        x509 = from_cert(cls, cert)
        converted[id(cert)] = (cert, x509)
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

    crypto.X509.from_cryptography = classmethod(cert_once)  # type: ignore[method-assign,assignment]
    crypto.PKey.from_cryptography_key = classmethod(key_once)  # type: ignore[method-assign,assignment]
    crypto.X509.pixelguard_converted_once = True  # type: ignore[attr-defined]
