"""Which certificate authorities the proxy trusts for servers: the system's, as the machine's own programs do.

mitmproxy checks servers against certifi's copy of Mozilla's roots unless told otherwise
(``ssl_verify_upstream_trusted_ca``), not against the system's store (mitmproxy issues 4472 and 5741). A CA the
user or their employer added to the system (a company's TLS inspection, a home server's own CA) is then trusted
by the browser alone and refused through the proxy: every such site fails with a 502 as soon as pixelguard is in
the way. On Linux the system's store is a PEM bundle kept by the distribution (``update-ca-certificates``,
``update-ca-trust``) that holds those roots and leaves out the ones it distrusts; here it is found as Go's
crypto/x509 finds it (``SSL_CERT_FILE`` first, then the distributions' paths of root_linux.go) and given to
mitmproxy, unless the user chose their own with ``--set ssl_verify_upstream_trusted_ca`` or ``_confdir``.
Elsewhere (macOS, Windows: the store is not a file), and when no bundle loads, mitmproxy's certifi stays.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

# Where distributions keep the system's bundle, in Go's order (src/crypto/x509/root_linux.go).
BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL 6
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # CentOS, RHEL 7
    "/etc/ssl/cert.pem",  # Alpine
)
OPTIONS = ("ssl_verify_upstream_trusted_ca", "ssl_verify_upstream_trusted_confdir")


def system_bundle(candidates: tuple[str, ...] = BUNDLES, platform: str = sys.platform) -> Path | None:
    """The system's CA bundle that loads, or None (mitmproxy's certifi then)."""
    if not platform.startswith("linux"):
        return None
    for path in filter(None, (os.environ.get("SSL_CERT_FILE"), *candidates)):
        if os.path.isfile(path):
            if _loads(path):
                return Path(path)
            log.warning(
                "pixelguard: %s holds no certificate OpenSSL can read; not trusting it for servers", path
            )
    return None


def _loads(path: str) -> bool:
    from OpenSSL import SSL

    try:
        SSL.Context(SSL.TLS_CLIENT_METHOD).load_verify_locations(path)
    except (SSL.Error, OSError):
        return False
    return True


def trusted_ca_setting(given: dict[str, str]) -> dict[str, str]:
    """The mitmproxy setting that trusts the system's bundle, unless the user's ``--set`` options chose."""
    if any(option in given for option in OPTIONS):
        return {}
    bundle = system_bundle()
    return {} if bundle is None else {"ssl_verify_upstream_trusted_ca": str(bundle)}


def describe(given: dict[str, str] | None = None) -> str:
    """What servers' certificates are checked against, in words (doctor)."""
    for option in OPTIONS:
        if given and option in given:
            return f"{given[option]} (--set {option})"
    bundle = system_bundle()
    if bundle is not None:
        return f"the system's CAs ({bundle})"
    return "certifi's copy of Mozilla's CAs (mitmproxy's own; CAs added to this system are not trusted)"
