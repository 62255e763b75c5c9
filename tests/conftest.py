"""Shared fixtures. Every test runs with its own config, data and cache dirs, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_data import REPO, SHARED, shared_path

__all__ = ["REPO", "SHARED", "shared_path"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        (home / sub).mkdir()
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("PIXELGUARD_CONFIG", raising=False)
    # Tests never reach the internet: no background subscription downloads in proxies they start.
    monkeypatch.setenv("PIXELGUARD_NO_UPDATES", "1")
    # Nor does DNS: CNAME lookups only where a test starts its own DNS server and says so.
    monkeypatch.setenv("PIXELGUARD_NO_CNAME", "1")
    return home
