"""Helpers shared by the test_tui_* files (no tests here): a config in tmp_path, events written by the real
Writer, and waiting for a condition in a running app."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path

from helpers import write_config

from pixelguard import config
from pixelguard.store.event import Event
from pixelguard.store.writer import Writer

# Real tracker hosts (from ../shared/trackers/third-party-web-entities.json) so company lookups show.
HOSTS = ("www.google-analytics.com", "pixel.facebook.com", "bat.bing.com", "px.ads.linkedin.com", "t.co")
SITES = ("news.example", "shop.example", "mail.example")
TRICKY_URL = "https://evil.example/p.gif?x=[bold]loud[/bold]&y=[link=https://x.example]click[/link]"


def make_config(tmp_path: Path, extra: str = "") -> config.Config:
    return config.load(write_config(tmp_path, user=None, extra=extra))


def event(i: int, ts: float, **over: object) -> Event:
    host = HOSTS[i % len(HOSTS)]
    pixel = i % 4 == 3
    fields: dict[str, object] = dict(
        ts=ts,
        client="127.0.0.1",
        method="GET",
        url=f"https://{host}/collect?v=1&n={i}",
        host=host,
        site=SITES[i % len(SITES)],
        type="image" if pixel else ("script" if i % 2 else "xmlhttprequest"),
        reason="pixel" if pixel else "filter",
        action="replaced" if pixel else "blocked",
        rule=None if pixel else f"||{host}^$third-party",
        list=None if pixel else "easyprivacy",
        line=None if pixel else 1000 + i,
        bytes=43,
        detail="1x1 gif" if pixel else None,
    )
    fields.update(over)
    return Event(**fields)  # type: ignore[arg-type]


def write_events(db: Path, events: list[Event], seen_per_event: int = 3) -> None:
    """Through the real Writer, as the proxy does; close() flushes everything accepted.

    The Writer counts requests in the current minute; ``seen_per_event=0`` leaves the counters alone."""
    # No retention: snapshot data is pinned to a fixed date that the default 30-day retention would delete.
    w = Writer(db, retention_days=None).start()
    for e in events:
        assert w.put(e)
        if seen_per_event:
            w.count(seen=seen_per_event, stopped=1)
    assert w.close(timeout=10)
    assert w.status["written"] == len(events)


async def wait_for(pilot, cond: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``cond`` while the app runs, failing with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.02)


def sync(fn):
    """Run an async test with asyncio.run (the suite has no async plugin); fixtures pass through."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper
