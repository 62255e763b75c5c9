"""A host's forged certificate and the key are converted to pyOpenSSL's objects once (proxy/tls_objects.py), asked
the way mitmproxy 11 asks (``Cert.to_pyopenssl``) and the way 12 does (cryptography's objects given to
``use_certificate``); the handshakes that use them are real in every end-to-end proxy test."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mitmproxy import certs
from OpenSSL import SSL, crypto

from pixelguard.limits import CONVERTED_CERTS
from pixelguard.proxy.tls_objects import convert_once

converted: list[object] = []  # each certificate pyOpenSSL's own constructor converted


@pytest.fixture(autouse=True)
def converted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    original = vars(crypto.X509)["from_cryptography"]
    monkeypatch.setattr(crypto.X509, "from_cryptography", original)
    monkeypatch.setattr(crypto.PKey, "from_cryptography_key", vars(crypto.PKey)["from_cryptography_key"])
    monkeypatch.delattr(crypto.X509, "pixelguard_converted_once", raising=False)
    convert = original.__func__

    def counted(cls: type, cert: x509.Certificate) -> crypto.X509:
        converted.append(cert)
        return convert(cls, cert)

    crypto.X509.from_cryptography = classmethod(counted)  # type: ignore[method-assign,assignment]
    converted.clear()
    convert_once()
    convert_once()  # twice is once


def _certificate(key: ec.EllipticCurvePrivateKey, host: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_a_certificate_is_converted_once_and_as_itself() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    made = _certificate(key, "a.example")
    cert = certs.Cert(made)
    first = cert.to_pyopenssl()
    assert cert.to_pyopenssl() is first
    assert crypto.dump_certificate(crypto.FILETYPE_ASN1, first) == made.public_bytes(
        serialization.Encoding.DER
    )
    other = certs.Cert(_certificate(key, "b.example"))
    assert other.to_pyopenssl() is not first
    assert other.to_pyopenssl().get_subject().CN == "b.example"


def test_a_certificate_handed_over_as_cryptography_s_object_is_converted_once() -> None:
    # mitmproxy 12: ssl_conn.use_certificate(entry.cert.to_cryptography()), at every client handshake.
    key = ec.generate_private_key(ec.SECP256R1())
    made = _certificate(key, "d.example")
    context = SSL.Context(SSL.TLS_METHOD)
    for _ in range(3):
        conn = SSL.Connection(context)
        conn.use_certificate(made)
        conn.use_privatekey(key)
        assert conn.get_certificate().to_cryptography() == made  # type: ignore[union-attr]
    assert converted == [made]


def test_the_least_recently_used_certificate_is_converted_again_past_the_bound() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    kept = [certs.Cert(_certificate(key, f"c{i}.example")) for i in range(CONVERTED_CERTS + 1)]
    first = [c.to_pyopenssl() for c in kept[:CONVERTED_CERTS]]  # as many as are kept
    assert kept[0].to_pyopenssl() is first[0]  # used again: now the most recent
    kept[-1].to_pyopenssl()  # one past the bound: the least recently used goes
    assert kept[0].to_pyopenssl() is first[0]
    assert kept[2].to_pyopenssl() is first[2]
    assert kept[1].to_pyopenssl() is not first[1]


def test_a_key_is_converted_once_and_as_itself() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    pkey = crypto.PKey.from_cryptography_key(key)
    assert crypto.PKey.from_cryptography_key(key) is pkey
    assert crypto.PKey.from_cryptography_key(other) is not pkey
    public = serialization.PublicFormat.SubjectPublicKeyInfo

    def spki(k: ec.EllipticCurvePublicKey) -> bytes:
        return k.public_bytes(serialization.Encoding.DER, public)

    assert spki(pkey.to_cryptography_key().public_key()) == spki(key.public_key())  # type: ignore[union-attr]
    assert spki(crypto.PKey.from_cryptography_key(other).to_cryptography_key().public_key()) == spki(  # type: ignore[union-attr]
        other.public_key()
    )
