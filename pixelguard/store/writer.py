"""The writer the proxy hands events to: a bounded queue drained by one thread, one transaction per batch.

The proxy's hooks never wait on SQLite. ``put`` and ``count`` only touch memory. The thread takes up to
``batch_size`` events at a time and writes them with the per-minute counters in one transaction. When SQLite
refuses (locked by another process, read-only file, disk full, file or directory deleted) the batch stays in
hand and is retried with backoff, reopening the database each time (which recreates a deleted file), while
``put`` keeps accepting events until the queue is full. An event ``put`` accepted is written once SQLite lets
us; only events refused by a full queue are lost, and they are counted in ``status["dropped"]``.
"""

from __future__ import annotations

import logging
import operator
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pixelguard.store import db as dbmod
from pixelguard.store.event import MAX_URL, Event
from pixelguard.store.schema import EVENT_COLUMNS

log = logging.getLogger(__name__)

INSERT_SQL = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
UPSERT_COUNTERS_SQL = (
    "INSERT INTO counters (minute, seen, stopped) VALUES (?, ?, ?) "
    "ON CONFLICT(minute) DO UPDATE SET seen = seen + excluded.seen, stopped = stopped + excluded.stopped"
)
RETENTION_EVERY = 3600.0
BACKOFF_START = 0.05
POLL_S = 0.05  # how long a batch gathers before its write: the UI's budget for a new event to show is 0.5 s
# How long counters alone gather before their write: the UI reads them every 2 s (tui/screens/main.py,
# OVERVIEW_SECONDS), `stats` by the minute. An event cuts the wait short.
COUNTERS_S = 1.0
BACKOFF_CAP = 1.0


_fields = operator.attrgetter(*EVENT_COLUMNS)
_URL = EVENT_COLUMNS.index("url")


def row_of(event: Event) -> tuple[Any, ...]:
    """Event → INSERT parameters; done in the writer thread (Event.row() is asdict, too slow per event)."""
    values = _fields(event)
    if len(values[_URL]) > MAX_URL:
        values = (*values[:_URL], values[_URL][:MAX_URL], *values[_URL + 1 :])
    return values


class Writer:
    """Queue + one daemon thread. Thread-safe; ``put``/``count`` never block."""

    def __init__(
        self,
        db_path: Path,
        *,
        maxsize: int = 100_000,
        retention_days: int | None = 30,
        batch_size: int = 1000,
    ):
        self.db_path = Path(db_path)
        self.retention_days = retention_days
        self.batch_size = batch_size
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self._counters: dict[int, list[int]] = {}
        self._held: list[Event] = []  # a batch taken from the queue, not yet committed
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set by put/count/close while the thread is parked
        self._parked = False
        self._counting = False  # asleep with counters alone to write: only put or close wakes it
        self._closed = False
        self._thread: threading.Thread | None = None
        self._db: Database | None = None
        self._file_id: tuple[int, int] | None = None
        self._next_retention = 0.0
        self._errors_logged: set[str] = set()
        self._written = 0
        self._dropped = 0
        self._batches = 0
        self._last_error: str | None = None
        self._full_logged_at = 0.0

    # --- called from the proxy (any thread) -----------------------------------------------------------

    def start(self) -> Writer:
        """Open (create, migrate) the database and start the thread.

        Raises CorruptDatabase when the file is not a pixelguard database, so ``pixelguard run`` stops with
        that message instead of recording into the void. Passing conditions (locked, read-only, disk
        full) do not raise: the thread retries them while the proxy serves.
        """
        if self._thread is None:
            try:
                self._open()
            except dbmod.CorruptDatabase:
                raise
            except Exception as e:
                self._failed(e)
            self._thread = threading.Thread(target=self._run, name="pixelguard-store-writer", daemon=True)
            self._thread.start()
        return self

    def put(self, event: Event) -> bool:
        """Hand an event over. False when the queue is full or the writer is closed (counted as dropped)."""
        if self._closed:
            self._drop("writer is closed")
            return False
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._drop(f"queue is full ({self._queue.maxsize} events waiting)")
            return False
        if self._parked or self._counting:
            self._wake.set()
        return True

    def count(self, seen: int = 1, stopped: int = 0) -> None:
        """Add to this minute's counters of requests seen and stopped (written with the next batch, within
        COUNTERS_S; only a parked thread is woken)."""
        minute = int(time.time() // 60)
        with self._lock:
            c = self._counters.get(minute)
            if c is None:
                self._counters[minute] = [seen, stopped]
            else:
                c[0] += seen
                c[1] += stopped
        if self._parked:
            self._wake.set()

    @property
    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "written": self._written,
                "dropped": self._dropped,
                "pending": self._queue.qsize() + len(self._held),
                "batches": self._batches,
                "last_error": self._last_error,
            }

    @property
    def parked(self) -> bool:
        """Is the thread asleep until an event comes (the proxy idle)?"""
        return self._parked

    def close(self, timeout: float = 10) -> bool:
        """Stop accepting, write everything accepted, close the database. False if it could not finish."""
        self._closed = True
        if self._thread is None and (self._queue.qsize() or self._counters):
            self.start()  # events were put before start(): they were accepted, so write them
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error(
                    "event writer: %d events not yet written to %s after %.0fs (%s)",
                    self.status["pending"],
                    self.db_path,
                    timeout,
                    self._last_error,
                )
                return False
        return True

    def __enter__(self) -> Writer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the writer thread -----------------------------------------------------------------------------

    def _drop(self, why: str) -> None:
        with self._lock:
            self._dropped += 1
            now = time.monotonic()
            if now - self._full_logged_at < 10:
                return
            self._full_logged_at = now
            dropped = self._dropped
        log.warning("event writer: dropped an event: %s (%d dropped so far)", why, dropped)

    def _run(self) -> None:
        backoff = BACKOFF_START
        while True:
            if not self._held:
                self._held = self._take()
            with self._lock:
                counters, self._counters = self._counters, {}
            if not self._held and not counters:
                if self._stopping.is_set() and self._queue.empty():
                    break
                self._maybe_retain()
                continue
            try:
                self._write(self._held, counters)
            except Exception as e:  # anything: this thread must outlive every error and keep the events
                self._merge_back(counters)
                self._failed(e)
                # Sleep in small steps: a close() during an outage still gets its last retries in.
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)
                continue
            with self._lock:
                self._written += len(self._held)
                self._batches += 1
                self._held = []
            backoff = BACKOFF_START
            if self._last_error is not None:
                log.warning("event writer: writing to %s again", self.db_path)
                self._last_error = None
                self._errors_logged.clear()
            self._maybe_retain()
        self._close_db()

    def _take(self) -> list[Event]:
        """The next batch: the events of the POLL_S after the first one (at once when a batch is already waiting).

        With nothing to write the thread parks (``_park``) until put, count or close wakes it; once woken it lets
        POLL_S of events gather before it takes them, and it does so again after each write. Counters alone
        gather for COUNTERS_S (``_gather_counters``), until an event comes. It does not wait on
        the queue itself: a thread waiting on a queue is woken by every put, which under load cost the proxy's
        event loop a thread switch and a GIL hand-over per event, and the database a transaction per event. So a
        busy proxy's events go in one transaction per POLL_S (more only when over a batch is waiting), an event
        reaches the database within POLL_S of its burst's first, and between bursts the thread sleeps (each look
        for events that finds none is a wake-up a laptop pays for in battery, and the proxy in CPU per request
        when a page's requests come over seconds)."""
        if self._queue.empty() and not self._counters:
            self._park()
        gathered = False
        if self._counters and self._queue.empty() and not self._stopping.is_set():
            self._gather_counters()
            gathered = self._queue.empty()  # else an event cut it short: it gets its POLL_S, as any event
        if not gathered and self._queue.qsize() < self.batch_size and not self._stopping.is_set():
            self._stopping.wait(POLL_S)
        batch: list[Event] = []
        get = self._queue.get_nowait
        try:
            while len(batch) < self.batch_size:
                batch.append(get())
        except queue.Empty:
            pass
        return batch

    def _park(self) -> None:
        """Sleep until put, count or close wakes the thread, or retention is due.

        The flag goes up before the last look at the queue: an event put after that look sees the flag and wakes
        the thread, one put before it is seen by the look. Only a parked thread is woken, so a busy proxy's puts
        cost no wake-up each (see _take)."""
        self._wake.clear()
        self._parked = True
        try:
            if self._queue.empty() and not self._counters and not self._stopping.is_set():
                due = self._next_retention - time.monotonic() if self.retention_days else None
                self._wake.wait(None if due is None else max(due, 0.0))
        finally:
            self._parked = False

    def _gather_counters(self) -> None:
        """With counters alone to write (requests passed, nothing stopped), sleep COUNTERS_S unless an event or
        close wakes the thread. Counting a request does not wake it: a proxy passing a page's requests one by one
        over seconds wrote a transaction, and woke this thread, every POLL_S, for a number the UI reads every 2 s.
        The same flag-then-look order as ``_park``."""
        self._wake.clear()
        self._counting = True
        try:
            if self._queue.empty() and not self._stopping.is_set():
                self._wake.wait(COUNTERS_S)
        finally:
            self._counting = False

    def _merge_back(self, counters: dict[int, list[int]]) -> None:
        with self._lock:
            for minute, (seen, stopped) in counters.items():
                c = self._counters.setdefault(minute, [0, 0])
                c[0] += seen
                c[1] += stopped

    def _write(self, events: Sequence[Event], counters: dict[int, list[int]]) -> None:
        db = self._open()
        conn = db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            if events:
                conn.executemany(INSERT_SQL, map(row_of, events))
            if counters:
                conn.executemany(UPSERT_COUNTERS_SQL, [(m, s, t) for m, (s, t) in counters.items()])
            conn.execute("COMMIT")
        except BaseException:
            self._close_db()  # rolls back; the next attempt reopens (and recreates a deleted file)
            raise
        if self._file_id != _file_id(self.db_path):
            # The file was deleted or replaced while we held it open: what we just committed went to an
            # unlinked inode that nobody will read. Reopen at the path and write the batch again.
            self._close_db()
            raise sqlite3.OperationalError(f"{self.db_path} was deleted or replaced while in use")

    def _open(self) -> Database:
        if self._db is not None and self._file_id == _file_id(self.db_path):
            return self._db
        self._close_db()
        self._db = dbmod.connect(self.db_path)
        self._file_id = _file_id(self.db_path)
        return self._db

    def _close_db(self) -> None:
        if self._db is not None:
            dbmod.close_quietly(self._db)
            self._db = None
            self._file_id = None

    def _failed(self, e: BaseException) -> None:
        msg = f"{type(e).__name__}: {e}"
        self._last_error = msg
        kind = getattr(e, "sqlite_errorname", None) or str(e)
        if kind not in self._errors_logged:
            self._errors_logged.add(kind)
            log.error(
                "event writer: cannot write to %s (%s); keeping %d events in memory and retrying",
                self.db_path,
                msg,
                self.status["pending"],
            )

    def _maybe_retain(self) -> None:
        """Delete what is older than retention_days: at start, then hourly."""
        now = time.monotonic()
        if not self.retention_days or now < self._next_retention:
            return
        cutoff = time.time() - self.retention_days * 86400
        try:
            conn = self._open().conn
            with conn:
                n = conn.execute("DELETE FROM events WHERE ts < ?", (cutoff,)).rowcount
                conn.execute("DELETE FROM counters WHERE minute < ?", (int(cutoff // 60),))
        except Exception as e:
            # Retention can wait; it must never hold up the events. The write path reports the error.
            self._close_db()
            log.debug("event writer: retention postponed: %s", e)
            self._next_retention = now + 60
            return
        self._next_retention = now + RETENTION_EVERY
        if n:
            log.info("event writer: removed %d events older than %d days", n, self.retention_days)


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
