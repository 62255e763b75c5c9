"""Helpers shared by the store tests: events with recognisable contents, and polling with a deadline."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from helpers import wait_for  # noqa: F401 (the store tests import it from here)

from pixelguard.store.event import Event


def event(n: int, *, host: str | None = None, site: str = "news.example", ts: float | None = None) -> Event:
    """Event number n; its url carries n so tests can tell exactly which events landed."""
    h = host or f"t{n % 7}.tracker.test"
    return Event(
        ts=time.time() if ts is None else ts,
        client="127.0.0.1",
        method="GET",
        url=f"http://{h}/p.gif?n={n}",
        host=h,
        site=site,
        type="image",
        reason="filter",
        action="blocked",
        rule=f"||{h}^",
        list="easyprivacy",
        line=100 + n % 5,
        bytes=43,
    )


def numbers(path: Path) -> list[int]:
    """The n of every event row in the database file (read with plain sqlite3, independent of our code)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT url FROM events ORDER BY id").fetchall()
    finally:
        conn.close()
    return [int(url.rsplit("=", 1)[1]) for (url,) in rows]
