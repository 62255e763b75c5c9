"""Servers are checked against the system's CA bundle, found as Go finds it, unless the user chose
(proxy/upstream_trust.py); a bundle that does not load is passed over with a warning, never given to mitmproxy."""

from __future__ import annotations

import logging
from pathlib import Path

import certifi
import pytest

from pixelguard.proxy import upstream_trust
from pixelguard.proxy.upstream_trust import describe, system_bundle, trusted_ca_setting


@pytest.fixture
def bundles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A readable bundle, one that holds no certificate, and a path with nothing there."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    good = tmp_path / "ca-certificates.crt"
    good.write_text(Path(certifi.where()).read_text())
    bad = tmp_path / "broken.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    return good, bad, tmp_path / "missing.pem"


def test_the_first_bundle_that_loads_is_the_systems(bundles: tuple[Path, Path, Path], caplog) -> None:
    good, bad, missing = bundles
    with caplog.at_level(logging.WARNING):
        assert system_bundle((str(missing), str(bad), str(good)), "linux") == good
    assert f"{bad} holds no certificate OpenSSL can read" in caplog.text
    assert system_bundle((str(missing), str(bad)), "linux") is None
    assert system_bundle((), "linux") is None


def test_ssl_cert_file_comes_first_when_it_names_a_bundle(
    bundles: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad, missing = bundles
    own = tmp_path / "own.pem"
    own.write_bytes(good.read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(own))
    assert system_bundle((str(good),), "linux") == own
    for unusable in (missing, bad, tmp_path):  # nothing there, no certificate, a directory
        monkeypatch.setenv("SSL_CERT_FILE", str(unusable))
        assert system_bundle((str(good),), "linux") == good


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_where_the_store_is_no_file_mitmproxys_own_stays(
    bundles: tuple[Path, Path, Path], platform: str
) -> None:
    good, _, _ = bundles
    assert system_bundle((str(good),), platform) is None


def test_the_setting_is_left_to_a_user_who_chose(
    bundles: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    good, _, _ = bundles
    monkeypatch.setattr(upstream_trust, "system_bundle", lambda: good)
    assert trusted_ca_setting({}) == {"ssl_verify_upstream_trusted_ca": str(good)}
    assert trusted_ca_setting({"ssl_verify_upstream_trusted_ca": "/mine.pem"}) == {}
    assert trusted_ca_setting({"ssl_verify_upstream_trusted_confdir": "/certs"}) == {}
    assert describe() == f"the system's CAs ({good})"
    assert (
        describe({"ssl_verify_upstream_trusted_ca": "/mine.pem"})
        == "/mine.pem (--set ssl_verify_upstream_trusted_ca)"
    )
    monkeypatch.setattr(upstream_trust, "system_bundle", lambda: None)
    assert trusted_ca_setting({}) == {}
    assert "certifi" in describe() and "not trusted" in describe()
