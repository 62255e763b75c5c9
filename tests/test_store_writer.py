"""The writer: batches, order, no loss under concurrency, counters, close() flushing, retention, full queue."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from store_helpers import event, numbers, wait_for

from pixelguard.store import db as dbmod
from pixelguard.store import writer as writer_module
from pixelguard.store.writer import Writer


def test_events_land_in_order_in_batches(tmp_path):
    path = tmp_path / "pg.db"
    w = Writer(path, batch_size=100).start()
    for n in range(1000):
        assert w.put(event(n))
    assert w.close()
    assert numbers(path) == list(range(1000))
    st = w.status
    assert st["written"] == 1000 and st["dropped"] == 0 and st["pending"] == 0 and st["last_error"] is None
    # Batched: far fewer transactions than events, and never more than batch_size per transaction.
    assert 10 <= st["batches"] < 1000


def test_event_appears_quickly_while_running(tmp_path):
    path = tmp_path / "pg.db"
    with Writer(path) as w:
        w.put(event(1))
        # Written while the writer runs, not at close (the 0.5 s latency budget is measured in test_tui_live).
        wait_for(lambda: w.status["written"] == 1, 30, "the event to be written")
        assert numbers(path) == [1]


def test_no_loss_from_many_threads(tmp_path):
    path = tmp_path / "pg.db"
    w = Writer(path).start()
    threads_n, per_thread = 20, 2000
    accepted = [0] * threads_n

    def produce(t: int) -> None:
        for i in range(per_thread):
            if w.put(event(t * per_thread + i)):
                accepted[t] += 1
            w.count(seen=2, stopped=1)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert w.close()
    got = numbers(path)
    assert sum(accepted) == threads_n * per_thread == w.status["written"]
    assert sorted(got) == list(range(threads_n * per_thread))  # each exactly once
    # Each producer's events keep their order (one queue, one writer thread).
    for t in range(threads_n):
        mine = [n for n in got if n // per_thread == t]
        assert mine == sorted(mine)
    conn = sqlite3.connect(path)
    seen, stopped = conn.execute("SELECT sum(seen), sum(stopped) FROM counters").fetchone()
    conn.close()
    assert (seen, stopped) == (2 * threads_n * per_thread, threads_n * per_thread)


def test_full_queue_refuses_and_counts_but_keeps_what_it_accepted(tmp_path):
    path = tmp_path / "pg.db"
    w = Writer(path, maxsize=10)  # not started: nothing drains the queue yet
    results = [w.put(event(n)) for n in range(15)]
    assert results == [True] * 10 + [False] * 5
    assert w.status["dropped"] == 5 and w.status["pending"] == 10
    assert w.close()  # close() of a writer never started still writes what it accepted
    assert numbers(path) == list(range(10))
    assert w.put(event(99)) is False  # closed


def test_counters_upsert_per_minute(tmp_path):
    path = tmp_path / "pg.db"
    w = Writer(path).start()
    for _ in range(5):
        w.count(seen=1, stopped=0)
    wait_for(lambda: w.status["batches"] >= 1, 30, "a first counters write")
    for _ in range(3):
        w.count(seen=1, stopped=1)
    assert w.close()
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT minute, seen, stopped FROM counters").fetchall()
    conn.close()
    assert sum(r[1] for r in rows) == 8 and sum(r[2] for r in rows) == 3
    assert all(abs(r[0] * 60 - time.time()) < 180 for r in rows)


def test_retention_at_start_removes_old_events(tmp_path):
    path = tmp_path / "pg.db"
    old = time.time() - 40 * 86400
    with Writer(path, retention_days=None) as w:
        w.put(event(1, ts=old))
        w.put(event(2, ts=time.time() - 10 * 86400))
        w.put(event(3))
    assert numbers(path) == [1, 2, 3]
    w = Writer(path, retention_days=30).start()
    wait_for(lambda: numbers(path) == [2, 3], 30, "retention to remove the 40-day-old event")
    assert w.close()


def test_long_urls_are_capped(tmp_path):
    path = tmp_path / "pg.db"
    e = event(1)
    long = e.url + "&x=" + "a" * 5000
    with Writer(path) as w:
        w.put(type(e)(**{**e.row(), "url": long}))
    conn = sqlite3.connect(path)
    (url,) = conn.execute("SELECT url FROM events").fetchone()
    conn.close()
    assert url == long[:2000]


def test_writer_database_is_migrated_and_wal(tmp_path):
    path = tmp_path / "sub" / "dir" / "pg.db"  # parent directories are created
    with Writer(path) as w:
        w.put(event(1))
    db = dbmod.connect(path, readonly=True)
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"events", "counters"} <= set(db.table_names())
    assert "events_readable" in db.view_names()
    (row,) = db.execute("SELECT time_utc, host FROM events_readable").fetchall()
    assert row[0][:2] == "20" and row[1] == "t1.tracker.test"


def _wakeups(thread: threading.Thread) -> int:
    """How many times the kernel has woken this thread from a sleep (Linux: its voluntary context switches)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


def _wakeups_once_parked(w: Writer) -> int:
    """Wait for a started writer's thread to park, idle; then its wake-ups so far."""
    assert w._thread is not None
    wait_for(lambda: w.parked, 30, "the writer to park once idle")
    return _wakeups(w._thread)


@pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="counts a thread's wake-ups in Linux's /proc"
)
def test_an_idle_writer_sleeps_until_an_event_wakes_it(tmp_path):
    # A proxy runs all day on a laptop: while nothing happens, its writer must not wake 20 times a second to look.
    path = tmp_path / "pg.db"
    w = Writer(path).start()
    try:
        before = _wakeups_once_parked(w)
        time.sleep(1.0)  # the window in which wake-ups are counted (polling: 20 of them)
        assert _wakeups(w._thread) - before <= 2
        assert w.parked
        # An event, a counter and close each wake it, and nothing is lost.
        before = _wakeups(w._thread)
        w.put(event(1))
        time.sleep(1.0)  # the window in which wake-ups are counted, this thread doing nothing meanwhile
        after = _wakeups(w._thread)
        wait_for(lambda: numbers(path) == [1], 30, "the event put while parked to be written")
        wait_for(lambda: w.parked, 30, "the writer to park again")
        # Woken, a gathering of POLL_S, the write, parked again: it does not go on looking for a second after an
        # event (20 looks), which a page whose requests come over seconds paid for again and again.
        assert after - before <= 8
        w.count(seen=3, stopped=1)
        wait_for(lambda: w.status["batches"] >= 2, 30, "the counters counted while parked to be written")
        wait_for(lambda: w.parked, 30, "the writer to park again")
        w.put(event(2))  # put and closed at once: close must still write it
    finally:
        assert w.close(timeout=10)
    assert numbers(path) == [1, 2]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT sum(seen), sum(stopped) FROM counters").fetchone() == (3, 1)
    conn.close()


@pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="counts a thread's wake-ups in Linux's /proc"
)
def test_counted_requests_gather_until_an_event_or_their_time(tmp_path, monkeypatch):
    # A page's passed requests come one by one over seconds: each count must not wake the writer for a
    # transaction of its own. Counters alone wait COUNTERS_S (here longer than the test), an event takes them along.
    monkeypatch.setattr(writer_module, "COUNTERS_S", 3600.0)
    path = tmp_path / "pg.db"
    w = Writer(path).start()
    try:
        before = _wakeups_once_parked(w)
        for _ in range(50):
            w.count(seen=1, stopped=0)
            time.sleep(0.01)  # requests spread out in time, as a page's are (POLL_S is 0.05)
        assert w.status["batches"] == 0  # nothing written for 50 counts over half a second
        assert _wakeups(w._thread) - before <= 3  # woken by the first count, not by each
        w.put(event(7))  # an event cuts the gathering short
        wait_for(lambda: numbers(path) == [7], 30, "the event to be written")
        assert w.status["batches"] == 1
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT sum(seen), sum(stopped) FROM counters").fetchone() == (50, 0)
        conn.close()
        w.count(seen=2, stopped=2)  # counters alone again: close writes them
    finally:
        assert w.close(timeout=10)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT sum(seen), sum(stopped) FROM counters").fetchone() == (52, 2)
    conn.close()
