"""Forged certificates are kept least recently used out, and a new host costs the same however many are kept
(proxy/forged_certs.py). The store is mitmproxy's own, on a CA made as a new install makes it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from mitmproxy import certs

from pixelguard.limits import FORGED_CERTS
from pixelguard.proxy.forged_certs import keep_least_recently_used
from pixelguard.trust import ensure_ca


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> certs.CertStore:
    monkeypatch.setattr(certs.CertStore, "get_cert", certs.CertStore.get_cert)
    monkeypatch.setattr(certs.CertStore, "expire", certs.CertStore.expire)
    monkeypatch.delattr(certs.CertStore, "pixelguard_lru", raising=False)
    keep_least_recently_used()
    keep_least_recently_used()  # twice is once
    ensure_ca(tmp_path)
    made = certs.CertStore.from_store(tmp_path, "mitmproxy", 2048)
    made.STORE_CAP = 3  # type: ignore[misc]
    return made


def forge(store: certs.CertStore, host: str) -> certs.CertStoreEntry:
    return store.get_cert(host, x509.GeneralNames([x509.DNSName(host)]))


def test_a_host_gets_the_certificate_forged_for_it_while_it_is_kept(store: certs.CertStore) -> None:
    a = forge(store, "a.example")
    assert a.cert.cn == "a.example"
    assert forge(store, "a.example") is a
    assert forge(store, "b.example") is not a


def test_the_least_recently_used_certificate_is_the_one_dropped(store: certs.CertStore) -> None:
    a, b = forge(store, "a.example"), forge(store, "b.example")
    forge(store, "c.example")
    assert forge(store, "a.example") is a  # a used again: b is now the least recently used
    forge(store, "d.example")  # one over the bound
    assert len(store.certs) == 3
    assert forge(store, "a.example") is a
    again = forge(store, "b.example")
    assert again is not b and again.cert.cn == "b.example"  # forged anew, and c dropped for it
    assert len(store.certs) == 3


def test_dropping_one_compares_no_certificates(
    store: certs.CertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mitmproxy's own eviction compared every kept entry, each by a SHA-256 of its certificate: ~40 ms a host
    at 2,048 kept. Counted, not timed: no certificate is compared, however many are kept."""
    store.STORE_CAP = 50  # type: ignore[misc]
    for i in range(50):
        forge(store, f"h{i}.example")
    compared = 0
    eq = certs.Cert.__eq__

    def counting(self: Any, other: Any) -> Any:
        nonlocal compared
        compared += 1
        return eq(self, other)

    monkeypatch.setattr(certs.Cert, "__eq__", counting)
    for i in range(50, 60):
        forge(store, f"h{i}.example")
    assert compared == 0
    assert len(store.certs) == 50


def test_certificates_the_user_gives_are_never_dropped(store: certs.CertStore) -> None:
    given = forge(store, "given.example")
    store.add_cert(given, "given.example")  # as `--set certs=given.example=...` adds one
    for i in range(10):
        forge(store, f"h{i}.example")
    assert store.certs["given.example"] is given
    assert forge(store, "given.example") is given


@pytest.mark.measure
def test_print_the_cost_of_a_new_host_at_the_bound(store: certs.CertStore) -> None:
    store.STORE_CAP = FORGED_CERTS  # type: ignore[misc]
    for i in range(FORGED_CERTS):
        forge(store, f"h{i}.example")
    start = time.perf_counter()
    for i in range(100):
        forge(store, f"new{i}.example")
    each = (time.perf_counter() - start) / 100
    print(f"\na new host with {FORGED_CERTS} certificates kept: {each * 1e3:.2f} ms")
    assert len(store.certs) == FORGED_CERTS
