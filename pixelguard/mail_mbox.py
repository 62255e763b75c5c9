"""``pixelguard mail clean --mbox FILE``: the messages of an mbox cleaned in place, under the locks that mail
delivery takes, safe to kill at any moment.

The file is rewritten in place, not replaced by a new one: a delivery program that opened the mailbox before
taking its lock (one that locks with fcntl only) would append to a replaced file's old inode once the lock is
free, and that message would be lost with it. Only the part from the first message not yet cleaned onwards is
written again, in two steps:

1. the new tail is written to a journal beside the mailbox (``.NAME.pixelguard-journal``), synced, and only then
   given its name (so a journal that exists is whole);
2. the tail is copied over the mailbox from its offset, the file cut to its new end and synced; the journal is
   renamed to say so (``.NAME.pixelguard-done``), then deleted.

A kill during step 1 leaves the mailbox untouched (the half-written temporary file is removed by the next run); a
kill during step 2 leaves a whole journal, which the next run (or any ``--mbox`` run on that file) copies over
again before anything else. Whatever was appended after the journal's end meanwhile is kept.

Locks, as procmail, Postfix's local, Dovecot and mutt take them: ``NAME.lock`` (a dot-lock, holding pixelguard's
process id, so that one left by a killed pixelguard is known and removed) and an fcntl lock on the file. A lock
held by someone else for longer than ``LOCK_WAIT`` is an error, not overridden.

Messages are separated by lines starting with ``From `` (mboxo and mboxrd alike); a cleaned message that gained
such a line in its body (a part encoded anew) has it escaped as ``>From ``. One message is held in memory at a
time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pixelguard.errors import PixelguardError
from pixelguard.mail_clean import Judge, MailboxResult, clean_message

LOCK_WAIT = 10.0  # seconds a delivery may hold the mailbox before this run gives up
_COPY = 1 << 20
# offset: where the tail goes; end: the mailbox's size when it was read; rest: the SHA-256 of the old bytes past
# the new tail's end (when the tail is shorter), which tell a copy not yet cut to size from one that was.
_JOURNAL_HEAD = re.compile(rb"^pixelguard-mbox-journal offset=(\d+) end=(\d+) rest=([0-9a-f]{64}|-{64})\n")
_HEAD_SIZE = len(b"pixelguard-mbox-journal offset= end= rest=\n") + 20 + 20 + 64
_FROM_LINE = re.compile(rb"^From ", re.M)


def journal_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.pixelguard-journal")


def done_of(path: Path) -> Path:
    """The journal's name once its copy is done: deleted next, or by the next run if this one is killed first."""
    return path.with_name(f".{path.name}.pixelguard-done")


def dotlock_of(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def clean_mbox(path: Path, judge: Judge, each: Callable[[int], Any] | None = None) -> MailboxResult:
    """Clean every message of the mbox at ``path`` not cleaned before; ``each`` is called once per message with
    the bytes read so far. Raises PixelguardError for a file that is not an mbox or cannot be locked."""
    result = MailboxResult()
    with _locked(path) as f:
        _finish_journal(path, f)
        size = os.fstat(f.fileno()).st_size
        f.seek(0)
        if size and f.read(5) != b"From ":
            raise PixelguardError(f"{path}: not an mbox (it does not begin with a 'From ' line)")
        tail: IO[bytes] | None = None
        tmp = path.with_name(f".{path.name}.pixelguard-tmp")
        offset = 0
        try:
            for start, raw in _messages(f):
                if each is not None:
                    each(start + len(raw))
                body, sep = _split_separator(raw)
                out = clean_message(body, judge)
                result.problems += [f"message at byte {start}: {p}" for p in out.problems]
                if out.already:
                    result.skipped += 1
                    data = raw
                else:
                    result.cleaned += 1
                    result.counts.add(out.counts)
                    data = _escape_from(out.data) + sep
                if tail is None and data != raw:
                    offset = start
                    tail = _create(tmp)
                    tail.write(b" " * _HEAD_SIZE)  # written once the tail's length is known
                if tail is not None:
                    tail.write(data)
            if tail is None:
                return result  # nothing to change
            tail_len = tail.tell() - _HEAD_SIZE
            rest = _sha256(f, offset + tail_len, size) if offset + tail_len < size else "-" * 64
            tail.seek(0)
            tail.write(
                b"pixelguard-mbox-journal offset=%020d end=%020d rest=%s\n" % (offset, size, rest.encode())
            )
            tail.flush()
            os.fsync(tail.fileno())
            tail.close()
            os.replace(tmp, journal_of(path))  # from here on the journal is whole: a rerun finishes it
            _sync_dir(path.parent)
        except BaseException:
            if tail is not None:
                tail.close()
            tmp.unlink(missing_ok=True)
            raise
        _finish_journal(path, f)
    return result


def _messages(f: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of each message: its ``From `` line up to the next one."""
    f.seek(0)
    start, lines = 0, list[bytes]()
    pos = 0
    for line in f:
        if line.startswith(b"From ") and lines:
            yield start, b"".join(lines)
            start, lines = pos, []
        lines.append(line)
        pos += len(line)
    if lines:
        yield start, b"".join(lines)


def _split_separator(raw: bytes) -> tuple[bytes, bytes]:
    """The message and the blank line that separates it from the next (kept as it was)."""
    for sep in (b"\r\n", b"\n"):
        if raw.endswith(sep + sep):
            return raw[: -len(sep)], sep
    return raw, b""


def _escape_from(message: bytes) -> bytes:
    """A body line starting with ``From `` would start a new message: escape it (the envelope line stays)."""
    first, nl, rest = message.partition(b"\n")
    return first + nl + _FROM_LINE.sub(b">From ", rest)


def _create(tmp: Path) -> IO[bytes]:
    tmp.unlink(missing_ok=True)  # left by a run killed while writing it: never a whole journal
    # Mail: the user's eyes only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb")


def _finish_journal(path: Path, f: IO[bytes]) -> None:
    """Copy a whole journal's tail over the mailbox, keep what was appended after it meanwhile, delete it."""
    done = done_of(path)
    done.unlink(missing_ok=True)  # a copy that finished: the run was killed before it could delete the marker
    journal = journal_of(path)
    try:
        j = open(journal, "rb")  # noqa: SIM115 (closed below; a missing one is the usual case)
    except FileNotFoundError:
        return
    with j:
        head = _JOURNAL_HEAD.match(j.readline())
        if head is None:
            raise PixelguardError(f"{journal}: not a pixelguard journal; move it away to clean {path}")
        offset, end, rest = int(head.group(1)), int(head.group(2)), head.group(3).decode()
        start = j.tell()
        tail_len = os.fstat(j.fileno()).st_size - start
        size = os.fstat(f.fileno()).st_size
        # A killed copy wrote the tail's first bytes from the offset; a delivery that came after the kill (one that
        # honours fcntl locks only: the dot-lock of a killed run stays until the next run) appended its message
        # after the file's end then: the old end or where the copy stopped, whichever is further; or the tail's
        # end, if the file had been cut to it (the old bytes that were there are gone).
        appended = b""
        written = _common_prefix(f, offset, j, start, tail_len)
        keep_from = max(end, offset + written)
        cut_at = offset + tail_len
        if written == tail_len and keep_from > cut_at and _sha256(f, cut_at, end) != rest:
            keep_from = cut_at
        if size > keep_from:
            f.seek(keep_from)
            appended = f.read()
        j.seek(start)
        f.seek(offset)
        while chunk := j.read(_COPY):
            f.write(chunk)
        f.write(appended)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())
    os.replace(journal, done)  # copied: a kill from here on must not make the next run copy it again
    _sync_dir(path.parent)
    done.unlink()


def _sha256(f: IO[bytes], start: int, stop: int) -> str:
    digest = hashlib.sha256()
    f.seek(start)
    left = stop - start
    while left > 0 and (chunk := f.read(min(_COPY, left))):
        digest.update(chunk)
        left -= len(chunk)
    return digest.hexdigest()


def _common_prefix(f: IO[bytes], offset: int, j: IO[bytes], start: int, limit: int) -> int:
    """How many bytes from ``offset`` in the mailbox equal the journal's tail (at most ``limit``)."""
    f.seek(offset)
    j.seek(start)
    same = 0
    while same < limit:
        a, b = f.read(_COPY), j.read(_COPY)
        n = min(len(a), len(b))
        if n == 0:
            break
        if a[:n] == b[:n]:
            same += n
            if len(a) != len(b):
                break
            continue
        same += next(i for i in range(n) if a[i] != b[i])
        break
    return min(same, limit)


@contextmanager
def _locked(path: Path) -> Iterator[IO[bytes]]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise PixelguardError(f"{path}: no such mbox") from None
    except OSError as e:
        raise PixelguardError(f"{path}: cannot open: {e.strerror or e}") from None
    f = os.fdopen(fd, "r+b")
    try:
        if not os.path.isfile(path):
            raise PixelguardError(f"{path}: not a file")
        dot = _take_dotlock(path)
        try:
            _take_fcntl(f, path)
            yield f
        finally:
            dot.unlink(missing_ok=True)
    finally:
        f.close()


def _take_dotlock(path: Path) -> Path:
    lock = dotlock_of(path)
    mine = f"{os.getpid()} pixelguard {socket.gethostname()}\n".encode()
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            if _left_by_dead_pixelguard(lock):
                lock.unlink(missing_ok=True)
                continue
            if time.monotonic() > deadline:
                raise PixelguardError(
                    f"{lock} is held (mail being delivered, or left by a program that crashed: delete it if "
                    "nothing is delivering)"
                ) from None
            time.sleep(0.1)
            continue
        except OSError as e:
            raise PixelguardError(
                f"cannot take {lock}: {e.strerror or e} (the mailbox's directory must be writable)"
            ) from None
        with os.fdopen(fd, "wb") as out:
            out.write(mine)
        return lock


def _left_by_dead_pixelguard(lock: Path) -> bool:
    try:
        words = lock.read_bytes()[:200].split()
    except OSError:
        return False
    if len(words) != 3 or words[1] != b"pixelguard" or not words[0].isdigit():
        return False
    if words[2].decode(errors="replace") != socket.gethostname():
        return False  # another machine's process (a shared mail spool): cannot be judged from here
    try:
        os.kill(int(words[0]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def _take_fcntl(f: IO[bytes], path: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.lockf(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise PixelguardError(
                    f"{path} is locked by another program (mail being delivered?)"
                ) from None
            time.sleep(0.1)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
