"""A real ``pixelguard run`` keeps the certificates it forged least recently used out (proxy/forged_certs.py).

A script of the test's own lowers the bound to three, so that a handful of hosts cross it.
Each tunnel is only a TLS handshake with the proxy: with connections to servers opened lazily, nothing goes
upstream, and the certificate a client gets is the one the proxy keeps for that host.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from harness import Proxy, open_tunnel

BOUND_OF_THREE = """
from mitmproxy import ctx

def tls_clienthello(data):  # before each certificate is looked up (the store may be made anew at startup)
    ctx.master.addons.get("tlsconfig").certstore.STORE_CAP = 3
"""


def _serial(proxy: Proxy, host: str) -> int:
    with proxy.client_context().wrap_socket(open_tunnel(proxy.port, host), server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    assert host in str(cert.extensions)
    return cert.serial_number


def test_the_host_used_least_recently_is_the_one_forged_again(make_proxy, tmp_path: Path) -> None:
    script = tmp_path / "bound_of_three.py"
    script.write_text(BOUND_OF_THREE)
    proxy = make_proxy({}, "--set", f"scripts={script}")
    a, b, c = (_serial(proxy, f"{n}.forged.test") for n in "abc")
    assert _serial(proxy, "a.forged.test") == a  # kept; and now b is the least recently used
    _serial(proxy, "d.forged.test")  # one over the bound: b goes
    assert _serial(proxy, "a.forged.test") == a
    assert _serial(proxy, "c.forged.test") == c
    assert _serial(proxy, "b.forged.test") != b  # forged again
