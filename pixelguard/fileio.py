"""Files pixelguard writes: replaced whole (never half-written), and private to the user who runs it.

What pixelguard keeps (the history of what you browsed, learned hosts, downloaded lists, your rules) is readable
by you alone: its directories are created 0700 and tightened to 0700 when found looser, so every file in them,
SQLite's -wal and -shm included, is out of other users' reach whatever their own mode.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

PRIVATE_DIR = 0o700


class LinkRefused(OSError):
    """A file pixelguard keeps is a symbolic link: someone could have put it there to make pixelguard write, or
    change the mode of, another file (the link's target) with the user's rights."""

    def __init__(self, path: Path):
        super().__init__(
            errno.ELOOP, f"{path} is a symbolic link; pixelguard does not write through one (remove it)"
        )
        self.path = path


def refuse_link(path: Path) -> None:
    """Raise LinkRefused when path is a symbolic link (lstat: the link itself, never its target)."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise LinkRefused(Path(path))
    except FileNotFoundError:
        pass


def private_file(path: Path) -> None:
    """Take group and other bits off a file pixelguard keeps (a history database made by an older version).
    A symbolic link is left alone: chmod would change its target."""
    try:
        st = os.lstat(path)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISLNK(st.st_mode) and mode & 0o077:
            os.chmod(path, mode & ~0o077)
    except OSError:
        pass


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; tighten it to 0700 if it exists with group/other bits."""
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & ~0o077)
    except OSError:
        pass  # not ours to change (a shared folder named by the user): the files themselves stay 0600
    return path


def atomic_write(path: Path, data: str | bytes, *, private: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never a mix.

    Bytes are written as they are (downloaded lists), text as UTF-8; line ends are never translated. A new
    file is 0600 (``mkstemp``); a replaced one keeps the mode it had. ``private``: the directory too (0700).
    """
    path = Path(path)
    if private:
        private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        raw = data if isinstance(data, bytes) else data.encode("utf-8")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def open_private(path: Path, flags: int) -> int:
    """os.open for a file pixelguard keeps in its own directories: 0600 when created, and never through a
    symbolic link (O_NOFOLLOW), which someone else could have put there to make pixelguard write elsewhere."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags | nofollow, 0o600)
    except OSError as e:
        if nofollow and e.errno == getattr(__import__("errno"), "ELOOP", -1):
            raise OSError(
                e.errno, f"{path} is a symbolic link; pixelguard does not write through one"
            ) from None
        raise


def private_log_handler(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """A size-rotated log file (at most ``backups + 1`` files of ``max_bytes``), each created 0600: a log names
    hosts the user visited, so it is as private as the history."""
    from logging.handlers import RotatingFileHandler

    class Private(RotatingFileHandler):
        def _open(self) -> Any:
            # Never through a symbolic link (which would append the user's history to its target), and made
            # private through the descriptor (one made 0644 by an older version).
            fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)

    return Private(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")


def stat_signature(path: Path | None) -> tuple:
    """What changes when a file is written: compared to notice edits without reading the file."""
    if path is None:
        return ()
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), None)
    # inode too: lists are replaced atomically (new file), which may keep mtime and size.
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino)
