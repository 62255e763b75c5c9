"""Shared fixtures. Every test runs with its own config, data and cache dirs, never the user's."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from shared_data import REPO, SHARED, shared_path

__all__ = ["REPO", "SHARED", "shared_path"]

# Hostile inputs are parameters of 100 KB and more; as test IDs (pytest names a test by its parameters' values)
# a report listing tests (--durations=80) ran to 12 MB. A value longer than ID_LIMIT is named by its start, its
# length and a digest.
ID_LIMIT = 200
ID_START = 60


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    if not isinstance(val, str | bytes) or len(val) <= ID_LIMIT:
        return None  # pytest's own ID
    data = val.encode("utf-8", "surrogatepass") if isinstance(val, str) else val
    start = ascii(val[:ID_START])[1:-1] if isinstance(val, str) else ascii(val[:ID_START])[2:-1]
    return f"{start}...({len(val)}:{hashlib.sha256(data).hexdigest()[:8]})"


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
