"""scripts/bootstrap, the set-up every `./scripts/run` and `./scripts/test` starts with (issue 28): a .venv left
without pip by an interrupted `python -m venv` is made again, instead of failing with "No module named pip" on
every later run. Offline: pip is pointed at an empty index, so only the venv's own making is exercised."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_venv_without_pip_is_made_again(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "nothing"\nversion = "0"\n')
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    assert subprocess.run(
        [tmp_path / ".venv/bin/python", "-m", "pip", "--version"], capture_output=True
    ).returncode
    empty = tmp_path / "no-index"
    empty.mkdir()
    env = dict(os.environ, PYTHON=sys.executable, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(empty))
    env.pop("VENV", None)  # the default .venv, whatever venv this suite runs in
    done = subprocess.run(
        ["bash", "scripts/bootstrap"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert "incomplete (an interrupted set-up?): making it again" in done.stderr
    assert "No module named pip" not in done.stderr
    check = subprocess.run([tmp_path / ".venv/bin/python", "-m", "pip", "--version"], capture_output=True)
    assert check.returncode == 0, "the venv made again has pip"
