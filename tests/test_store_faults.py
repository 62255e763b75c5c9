"""The writer under real faults: SQLite refuses, the proxy side keeps handing events over without waiting,
and every event the writer accepted is in the database once it is writable again.

The tests run as root, and root ignores file permissions, so "read-only" is made real with the immutable
attribute (``chattr +i``): the kernel refuses writes to such a file even from root and even through file
descriptors opened before, which is exactly what SQLite sees on a read-only file (it reports
SQLITE_READONLY when it opens the file, SQLITE_IOERR_WRITE when the file becomes immutable under an open
connection). A full disk is a small tmpfs mount. Both skip, with the reason, where the kernel or the
privileges do not allow them.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import event, numbers, wait_for

from pixelguard.store import db as dbmod
from pixelguard.store.writer import Writer


def put_all(w: Writer, ns: range) -> None:
    """Put events, asserting each is accepted."""
    for n in ns:
        assert w.put(event(n)), f"event {n} refused"


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    done: list[Path] = []
    try:
        for p in paths:
            r = subprocess.run(["chattr", "+i", str(p)], capture_output=True, text=True)
            if r.returncode != 0:
                pytest.skip(f"cannot make {p.name} immutable here (chattr: {r.stderr.strip()})")
            done.append(p)
        yield
    finally:
        for p in done:
            subprocess.run(["chattr", "-i", str(p)], check=True)


@pytest.fixture
def chattr() -> None:
    if not shutil.which("chattr"):
        pytest.skip("chattr is not installed (needed to make a file read-only for root)")


def test_locked_by_another_process_for_5s(tmp_path):
    path = tmp_path / "pg.db"
    w = Writer(path).start()
    put_all(w, range(1))
    wait_for(lambda: w.status["written"] == 1, 30, "the first event")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(5)\n"
            "c.execute('COMMIT')\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        put_all(w, range(1, 2001))
        # The proxy never waits on the lock: all 2,000 were handed over while it was still held (its 5 s, not a
        # per-call time, is the bound: a loaded machine may pause one call for a moment, never for the lock).
        assert holder.poll() is None, "the lock was released before the events were handed over"
        wait_for(lambda: "locked" in (w.status["last_error"] or ""), 30, "the writer to report the lock")
        assert w.status["written"] == 1 and w.status["pending"] == 2000
        assert holder.wait(15) == 0
        assert time.monotonic() - locked_at >= 4.5  # it really was held for ~5 s
    finally:
        holder.kill()
    wait_for(lambda: w.status["written"] == 2001, 30, "the backlog after the lock was released")
    assert w.close()
    assert numbers(path) == list(range(2001))
    assert w.status["last_error"] is None and w.status["dropped"] == 0


def test_read_only_file_at_start_then_writable(tmp_path, chattr):
    path = tmp_path / "pg.db"
    dbmod.connect(path).close()  # an existing, valid database, now made read-only before the writer opens it
    with immutable(path):
        w = Writer(path).start()
        put_all(w, range(300))
        wait_for(lambda: w.status["last_error"], 30, "the writer to report the read-only file")
        assert "readonly" in w.status["last_error"] or "read-only" in w.status["last_error"]
        assert w.status["written"] == 0 and w.status["pending"] == 300
    wait_for(lambda: w.status["written"] == 300, 30, "the events once the file is writable")
    assert w.close()
    assert numbers(path) == list(range(300))


def test_read_only_while_running_then_writable(tmp_path, chattr):
    path = tmp_path / "pg.db"
    w = Writer(path).start()
    put_all(w, range(100))
    wait_for(lambda: w.status["written"] == 100, 30, "the first events")
    # Not the -shm file: SQLite maps it into memory, and an immutable mapping faults the process.
    with immutable(path, path.with_name(path.name + "-wal")):
        put_all(w, range(100, 400))
        wait_for(lambda: w.status["last_error"], 30, "the writer to report the write error")
        assert w.status["written"] == 100 and w.status["pending"] == 300
    wait_for(lambda: w.status["written"] == 400, 30, "the events once the file is writable")
    assert w.close()
    assert numbers(path) == list(range(400))


@pytest.mark.parametrize("what", ["files", "directory"])
def test_deleted_while_running_is_recreated(tmp_path, what):
    path = tmp_path / "data" / "pg.db"
    w = Writer(path).start()
    put_all(w, range(50))
    wait_for(lambda: w.status["written"] == 50, 30, "the first events")
    if what == "directory":
        shutil.rmtree(path.parent)
    else:
        for p in path.parent.glob("pg.db*"):
            p.unlink()
    put_all(w, range(50, 300))
    wait_for(lambda: w.status["written"] == 300, 30, "the events after the deletion")
    assert w.close()
    # What was committed before the deletion went with the file; everything put after it is in the new one.
    assert numbers(path) == list(range(50, 300))
    assert dbmod.connect(path, readonly=True).table_names()  # a migrated database, not a bare file


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all\n" * 200, "sqlite"],
    ids=["garbage", "foreign-sqlite"],
)
def test_corrupt_file_at_start_is_refused_not_replaced(tmp_path, content):
    path = tmp_path / "pg.db"
    if content == "sqlite":
        c = sqlite3.connect(path)
        c.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
        c.commit()
        c.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(dbmod.CorruptDatabase) as info:
        Writer(path).start()
    msg = str(info.value)
    assert "\n" not in msg and "not a pixelguard database" in msg and f"mv {shlex.quote(str(path))} " in msg
    with pytest.raises(dbmod.CorruptDatabase):
        dbmod.connect(path)
    with pytest.raises(dbmod.CorruptDatabase):
        dbmod.connect(path, readonly=True)
    assert path.read_bytes() == before  # never silently replaced by a new empty history

    aside = dbmod.move_aside(path)
    assert aside.read_bytes() == before and ".corrupt-" in aside.name and not path.exists()
    with Writer(path) as w:
        put_all(w, range(3))
    assert numbers(path) == [0, 1, 2]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_then_space_freed(small_tmpfs):
    path = small_tmpfs / "pg.db"
    w = Writer(path, batch_size=200).start()
    n = 0
    # Fill the 256 KiB disk until SQLite reports it full; events keep being accepted meanwhile.
    while not w.status["last_error"]:
        put_all(w, range(n, n + 200))
        n += 200
        time.sleep(0.01)
        assert n < 20_000, "the small disk never filled up"
    assert "full" in w.status["last_error"]
    put_all(w, range(n, n + 500))
    n += 500
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_tmpfs)], check=True)
    wait_for(lambda: w.status["written"] == n, 30, "the backlog once space was freed")
    assert w.close()
    assert numbers(path) == list(range(n))
