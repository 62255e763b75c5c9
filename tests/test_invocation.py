"""The commands pixelguard suggests run as printed (issue 28): `pixelguard` when that name on PATH is this
installation, else this installation's script by its absolute path, in every place a fix is suggested."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixelguard import invocation
from pixelguard.proxy.responses import block_page

SCRIPT = Path(sys.executable).parent / "pixelguard"


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    invocation.name.cache_clear()
    yield
    invocation.name.cache_clear()


@pytest.mark.skipif(not SCRIPT.exists(), reason="pixelguard is not installed as a script beside this Python")
def test_off_path_the_suggestion_is_the_absolute_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing named pixelguard there
    assert invocation.cmd("lists update easylist") == f"{SCRIPT} lists update easylist"
    page = block_page("https://t.example/", "t.example", "||t.example^", "l", 1).decode()
    assert f"{SCRIPT} allow t.example" in page


@pytest.mark.skipif(not SCRIPT.exists(), reason="pixelguard is not installed as a script beside this Python")
def test_on_path_the_short_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{SCRIPT.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert invocation.cmd("doctor") == "pixelguard doctor"


def test_another_pixelguard_on_path_is_not_this_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "pixelguard"
    other.write_text("#!/bin/sh\necho another\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert invocation.name() != "pixelguard"
    assert invocation.name().endswith(("pixelguard", "-m pixelguard"))


def test_a_path_with_a_space_is_quoted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spaced = tmp_path / "my venv" / "bin"
    spaced.mkdir(parents=True)
    (spaced / "pixelguard").write_text("")
    monkeypatch.setattr(sys, "executable", str(spaced / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert invocation.cmd("ui") == f"'{spaced / 'pixelguard'}' ui"
