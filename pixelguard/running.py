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
from pixelguard.invocation import cmd

FILE = "proxy.json"
LOCK = "proxy.lock"  # held (flock) by the proxy serving this data dir, for as long as it runs


@dataclass(frozen=True)
class Running:
    listen: str  # host:port, [v6]:port
    mode: str  # full | hosts-only
    pid: int
    started: float  # epoch seconds
    ca_cert: str  # the CA file clients must trust
    # Processes serving the address (`run --workers`); pid is the first, which started the others.
    workers: int = 1


def announce(data_dir: Path, listen: str, mode: str, ca_cert: Path, workers: int = 1) -> None:
    info = Running(
        listen=listen, mode=mode, pid=os.getpid(), started=time.time(), ca_cert=str(ca_cert), workers=workers
    )
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
            workers=max(1, int(raw.get("workers") or 1)),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info if info.pid > 0 and alive(info.pid) else None


def alive(pid: int) -> bool:
    """Is process pid running (as far as this user can tell)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Claim:
    """The data dir claimed by this process's proxy: an exclusive lock on proxy.lock, released when the process
    ends (however it ends: the kernel drops the lock with the file descriptor). Two proxies on one data dir would
    share one history and one proxy.json, and the second one's exit would make the first invisible."""

    def __init__(self, fd: int):
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def claim(data_dir: Path) -> Claim:
    """Claim data_dir for this process's proxy, or raise PixelguardError naming the proxy that has it."""
    from pixelguard.errors import PixelguardError
    from pixelguard.fileio import open_private

    path = data_dir / LOCK
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; proxy.json of a live process is the claim
        other = read(data_dir)
        if other is not None and other.pid != os.getpid():
            os.close(fd)
            raise PixelguardError(_taken(data_dir, other)) from None
        return Claim(fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise PixelguardError(_taken(data_dir, read(data_dir))) from None
    return Claim(fd)


def _taken(data_dir: Path, other: Running | None) -> str:
    if other is None:
        return (
            f"another pixelguard proxy is starting for the data dir {data_dir}; watch it with `{cmd('ui')}` "
            "(one proxy per data dir: it holds the history, the learned hosts and the pause)"
        )
    return (
        f"a pixelguard proxy already runs for the data dir {data_dir}: pid {other.pid}, listening on "
        f"{other.listen}. Watch it with `{cmd('ui')}`; to start another, stop that one first "
        f"(`{cmd('service status')}` says whether it is the service)"
    )
