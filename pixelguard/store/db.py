"""Opening the event database: WAL, busy timeout, migrations, and a clear refusal of files that are not ours.

A corrupt or foreign file is never replaced by a fresh empty history: ``connect`` raises a CorruptDatabase that
tells the user how to move it aside (``move_aside`` does it for them).
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import time
from pathlib import Path

from sqlite_utils import Database

from pixelguard.errors import PixelguardError
from pixelguard.fileio import LinkRefused, open_private, private_file, refuse_link
from pixelguard.store import schema

# Readers wait this long for a writer's lock; the writer uses a shorter one so its status stays fresh.
READ_BUSY_MS = 2000
WRITE_BUSY_MS = 1000


class CorruptDatabase(PixelguardError):
    """The file at the database path is not a pixelguard database (or is damaged)."""

    def __init__(self, path: Path, why: str):
        self.path = path
        aside = aside_name(path)
        super().__init__(
            f"{path} is not a pixelguard database or is corrupt ({why}); nothing was changed. "
            f"Move it aside and start a new history with: mv {shlex.quote(str(path))} {shlex.quote(str(aside))}"
        )


class MissingDatabase(PixelguardError):
    """A read-only open of a database that does not exist yet (nothing was recorded so far)."""

    def __init__(self, path: Path, why: str = "does not exist"):
        self.path = path
        super().__init__(f"no events yet (database {path} {why})")


def aside_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return path.with_name(f"{path.name}.corrupt-{stamp}")


def move_aside(path: Path) -> Path:
    """Rename a bad database (and its -wal/-shm files) to NAME.corrupt-DATE[-N]; returns the new path."""
    path = Path(path)
    target = aside_name(path)
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{aside_name(path).name}-{n}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target


def connect(path: Path, readonly: bool = False, *, busy_ms: int | None = None) -> Database:
    """Open the database at ``path``; unless ``readonly``, create it (and its directory) and migrate it.

    Raises MissingDatabase (readonly and absent), CorruptDatabase (not ours or damaged), and lets
    sqlite3.OperationalError through for conditions that may pass (locked, read-only file, disk full).
    """
    path = Path(path)
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            refuse_link(f)  # SQLite would write the history (and chmod would apply) to the link's target
        except LinkRefused as e:
            raise CorruptDatabase(path, f"{e.path.name} is a symbolic link: remove it ({e.path})") from None
    if readonly:
        if not path.exists():
            raise MissingDatabase(path)
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    else:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            # 0600 from the start: SQLite gives its -wal and -shm files the database file's mode.
            os.close(open_private(path, os.O_CREAT | os.O_WRONLY))
        for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            private_file(f)
        conn = sqlite3.connect(str(path), check_same_thread=False)
    busy = busy_ms if busy_ms is not None else (READ_BUSY_MS if readonly else WRITE_BUSY_MS)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy)}")
        _check_ours(conn, path)
        db = Database(conn)
        if readonly and "events" not in db.table_names():
            raise MissingDatabase(path, "has no events table yet")
        if not readonly:
            _use_wal(conn, busy)
            # WAL + NORMAL: a power cut may lose the last commits, never corrupt the file; 10x fewer fsyncs.
            conn.execute("PRAGMA synchronous = NORMAL")
            _migrate(db)
        return db
    except sqlite3.DatabaseError as e:
        conn.close()
        if isinstance(e, sqlite3.OperationalError):
            raise
        raise CorruptDatabase(path, str(e)) from e
    except BaseException:
        conn.close()
        raise


def _use_wal(conn: sqlite3.Connection, busy_ms: int) -> None:
    """Put the file in WAL mode, waiting up to ``busy_ms`` for other connections.

    The switch needs an exclusive lock, and SQLite can answer "database is locked" at once instead of calling the
    busy handler (when another connection holds a lock the switch would have to wait behind). Two processes
    opening a fresh file together, the proxy and the UI at first start, met that about once in 60 tries; so the
    switch is retried here until the same budget the busy handler has is spent.
    """
    deadline = time.monotonic() + busy_ms / 1000
    pause = 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def close_quietly(db: Database) -> None:
    """Close ``db``; a close that fails (file deleted, disk gone) has nothing left to tell the caller."""
    try:
        db.conn.close()
    except sqlite3.Error:
        pass


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    """An empty file or a database holding our tables is ours; a database with other tables is not."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    if names and "events" not in names and "_sqlite_migrations" not in names:
        shown = ", ".join(sorted(names)[:5])
        raise CorruptDatabase(path, f"it holds other tables: {shown}")


def _migrate(db: Database) -> None:
    if schema.is_current(db):
        return
    # Two processes may open a fresh file at once. Each migrates holding the write lock, taken before
    # sqlite-utils looks at what is pending, so the second finds the work done. Without the lock both could apply
    # and record the same migration: sqlite-utils creates its record table and the unique index on it in two
    # steps, and a CI run once found 5 records for 4 migrations. A lock that stays busy past the timeout is
    # retried; the schema may be current by then.
    for attempt in range(5):
        try:
            db.conn.execute("BEGIN IMMEDIATE")
            schema.apply(db)  # sqlite-utils nests each migration's transaction as a savepoint in this one
            db.conn.execute("COMMIT")
            return
        except (sqlite3.OperationalError, sqlite3.IntegrityError):
            if db.conn.in_transaction:
                db.conn.rollback()
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
            if schema.is_current(db):
                return
