"""How to run this installation's pixelguard, as the commands pixelguard suggests are printed.

After ``./scripts/run`` the ``pixelguard`` command lives in the project's .venv, which is not on PATH: a fix printed
as ``pixelguard lists update`` and copied gave "command not found". Suggestions name the command as it runs here:
``pixelguard`` when that name on PATH is this installation's, else the absolute path of its script (or
``python -m pixelguard`` with this interpreter when there is no script).
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import sys
from pathlib import Path


def script() -> list[str]:
    """This installation's command: its script by absolute path, or this Python with ``-m pixelguard``."""
    exe = Path(sys.executable).parent / ("pixelguard.exe" if sys.platform == "win32" else "pixelguard")
    # Not resolved: a venv's python is a symlink, and the venv's own path is what must be kept.
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pixelguard"]


@functools.cache
def name() -> str:
    """``pixelguard``, or what to type instead when that name does not run this installation."""
    argv = script()
    found = shutil.which("pixelguard")
    if found and len(argv) == 1 and os.path.realpath(found) == os.path.realpath(argv[0]):
        return "pixelguard"
    return shlex.join(argv)


def cmd(args: str) -> str:
    """A pixelguard command line to suggest: ``cmd("lists update")`` → ``pixelguard lists update`` (or the path)."""
    return f"{name()} {args}"
