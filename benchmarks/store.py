"""Benchmark: events/s the Writer sustains from several producer threads (queue -> batches -> SQLite), against
plain sqlite3 executemany of the same rows, 1000 per transaction, on the same schema and pragmas.

Run ``scripts/bench-store [EVENTS] [THREADS]`` (defaults: 200000 events, 8 threads). Target: >= 5,000/s.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from pixelguard.store import db as dbmod
from pixelguard.store.event import Event
from pixelguard.store.writer import INSERT_SQL, Writer, row_of


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events", nargs="?", type=int, default=200_000)
    ap.add_argument("threads", nargs="?", type=int, default=8)
    args = ap.parse_args(argv)
    total, threads_n = args.events, args.threads
    now = time.time()
    events = [
        Event(
            now,
            "127.0.0.1",
            "GET",
            f"https://px{n % 500}.tracker.test/collect?id={n}&v=1&tid=UA-1",
            f"px{n % 500}.tracker.test",
            f"site{n % 50}.example",
            "image",
            "filter",
            "blocked",
            f"||px{n % 500}.tracker.test^",
            "easyprivacy",
            1000 + n % 9000,
            43,
        )
        for n in range(total)
    ]
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))

    # The writer, fed from threads_n producers; a refused put (queue full) is retried, so every event lands.
    w = Writer(tmp / "writer.db")
    w.start()
    chunks = [events[i::threads_n] for i in range(threads_n)]
    retries = [0] * threads_n

    def produce(i: int) -> None:
        for e in chunks[i]:
            while not w.put(e):
                retries[i] += 1
                time.sleep(0.001)
            w.count(seen=1, stopped=1)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=produce, args=(i,)) for i in range(threads_n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert w.close(timeout=120)
    writer_s = time.perf_counter() - t0
    st = w.status
    got = dbmod.connect(tmp / "writer.db", readonly=True).execute("SELECT count(*) FROM events").fetchone()[0]
    assert got == total == st["written"], (got, st)

    # The peer: the same rows, plain executemany, 1000 per transaction, one thread, no queue.
    db = dbmod.connect(tmp / "plain.db")
    conn = db.conn
    t0 = time.perf_counter()
    for i in range(0, total, 1000):
        conn.execute("BEGIN")
        conn.executemany(INSERT_SQL, [row_of(e) for e in events[i : i + 1000]])
        conn.execute("COMMIT")
    plain_s = time.perf_counter() - t0

    wr, pr = total / writer_s, total / plain_s
    print(f"events: {total:,} from {threads_n} threads, sqlite {sqlite3.sqlite_version}")
    print(
        f"writer (queue + thread + batches):        {wr:>10,.0f} events/s  ({st['batches']} batches, "
        f"{sum(retries)} full-queue retries)"
    )
    print(f"plain sqlite3 executemany, 1000 per txn:  {pr:>10,.0f} events/s")
    print(
        f"ratio writer/plain: {wr / pr:.2f}   target >= 5,000 events/s: {'met' if wr >= 5000 else 'NOT MET'}"
    )
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
