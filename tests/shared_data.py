"""Where ../shared is, for tests that read the real lists and corpora (importable: tests/ is on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Beside the checkout; PIXELGUARD_SHARED names it when the tests run from a copy elsewhere (scripts/mutate).
SHARED = Path(os.environ.get("PIXELGUARD_SHARED") or REPO.parent / "shared")


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test with the reason when this checkout has none beside it."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is not present (../shared holds the real lists and corpora this test reads)")
    return p
