"""``python -m pixelguard.engine build CACHE_DIR LIST...``: build the lists' index into the cache and exit.

The proxy runs this for big lists (proxy/reloader.py), so that the build's memory and time are spent in a process
of their own; it then loads the index from the cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pixelguard.engine import Engine


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "build":
        print("usage: python -m pixelguard.engine build CACHE_DIR LIST...", file=sys.stderr)
        return 2
    Engine.from_files([Path(a) for a in argv[2:]], cache_dir=Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
