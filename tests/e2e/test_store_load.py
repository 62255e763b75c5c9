"""Load through the real proxy: 20,000 requests that must be blocked, from 50 concurrent clients. Every request
is answered, none reaches the origin, and exactly 20,000 event rows land, one per request. Prints the rates."""

from __future__ import annotations

import http.client
import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from harness import Origin, Proxy, wait_for

from pixelguard.proxy.responses import TRANSPARENT_GIF

# A load measurement (about 40 s): CI runs it; `./scripts/test -m "not measure"` skips it for a quick run.
pytestmark = [pytest.mark.e2e, pytest.mark.measure, pytest.mark.timeout(150)]

TOTAL = 20_000
CLIENTS = 50
LIST = "! load test list\n||load.tracker.test^\n/loadtrack/*\n"


def count_rows(proxy: Proxy, like: str) -> int:
    if not proxy.database.exists():
        return 0
    con = sqlite3.connect(f"file:{proxy.database}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM events WHERE url LIKE ?", (like,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def test_20000_blocked_requests_from_50_clients(make_proxy: Callable[..., Proxy], origin: Origin) -> None:
    # learn_after high: only filter blocks here, the learner has nothing to do with it.
    proxy = make_proxy({"loadlist": LIST}, extra="pixels: {learn_after: 1000}\n")
    per_client = TOTAL // CLIENTS
    answered = [0] * CLIENTS
    failures: list[str] = []
    prefix = origin.url("/loadtrack/")

    def client(c: int) -> None:
        # One keep-alive connection per client, as a browser holds to its proxy.
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        try:
            for i in range(per_client):
                n = c * per_client + i
                try:
                    conn.request("GET", f"{prefix}{n}.gif?n={n}", headers={"Accept": "image/*"})
                    resp = conn.getresponse()
                    body = resp.read()
                except (OSError, http.client.HTTPException) as e:
                    conn.close()  # a dropped keep-alive: reconnect once and count it if it fails again
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
                    failures.append(f"request {n}: {type(e).__name__}: {e}")
                    continue
                if resp.status != 200 or body != TRANSPARENT_GIF:
                    failures.append(f"request {n}: status {resp.status}, {len(body)} bytes")
                    continue
                answered[c] += 1
        finally:
            conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    sent_s = time.monotonic() - start
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert failures == [], f"{len(failures)} requests failed, first: {failures[:3]}"
    assert sum(answered) == TOTAL

    like = f"{prefix}%"
    wait_for(lambda: count_rows(proxy, like) >= TOTAL, 30, what=f"{TOTAL} event rows")
    landed_s = time.monotonic() - start
    assert sum(h for path, h in origin.hits.items() if path.startswith("/loadtrack/")) == 0
    assert proxy.stop() == 0, proxy.log()[-2000:]

    con = sqlite3.connect(proxy.database)
    try:
        rows = con.execute("SELECT url, ts FROM events WHERE url LIKE ? ORDER BY id", (like,)).fetchall()
    finally:
        con.close()
    ns = sorted(int(url.rsplit("=", 1)[1]) for url, _ in rows)
    assert ns == list(range(TOTAL))  # exactly one row per request: none lost, none doubled
    first_ts, last_ts = min(ts for _, ts in rows), max(ts for _, ts in rows)
    print(
        f"\n{TOTAL} blocked requests from {CLIENTS} clients in {sent_s:.1f} s "
        f"({TOTAL / sent_s:,.0f} requests/s through the proxy); all {TOTAL} rows in the database after "
        f"{landed_s:.1f} s: the writer sustained {TOTAL / landed_s:,.0f} events/s, as fast as the proxy "
        f"produced them ({TOTAL / max(last_ts - first_ts, 1e-6):,.0f} events/s by event time)"
    )
