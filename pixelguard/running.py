"""``proxy.json`` in the data dir: how a running proxy describes itself to the UI, ``doctor`` and ``service status``.

Written by the proxy once it listens, removed when it stops; a file left by a process that died is ignored.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pixelguard.fileio import atomic_write

FILE = "proxy.json"


@dataclass(frozen=True)
class Running:
    listen: str  # host:port, [v6]:port
    mode: str  # full | hosts-only
    pid: int
    started: float  # epoch seconds
    ca_cert: str  # the CA file clients must trust


def announce(data_dir: Path, listen: str, mode: str, ca_cert: Path) -> None:
    info = Running(listen=listen, mode=mode, pid=os.getpid(), started=time.time(), ca_cert=str(ca_cert))
    atomic_write(data_dir / FILE, json.dumps(asdict(info)))


def withdraw(data_dir: Path) -> None:
    """Remove the file, if this process wrote it (a second proxy's must stay)."""
    info = read(data_dir)
    if info is not None and info.pid == os.getpid():
        (data_dir / FILE).unlink(missing_ok=True)


def read(data_dir: Path) -> Running | None:
    """The running proxy, or None when the file is absent, unreadable or left by a dead process."""
    try:
        raw = json.loads((data_dir / FILE).read_text(encoding="utf-8"))
        info = Running(
            listen=str(raw["listen"]),
            mode=str(raw.get("mode") or "full"),
            pid=int(raw["pid"]),
            started=float(raw.get("started") or 0),
            ca_cert=str(raw.get("ca_cert") or ""),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info if info.pid > 0 and _alive(info.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
