"""The UI under load: another process writes 100 events/s for 10 s through the real Writer while the UI is
attached to the same database. Measures (and prints) how long an event takes to appear in the table and how
long the UI takes to answer a key.

Run alone to see the figures:  .venv/bin/python -m pytest tests/test_tui_live.py -s -q
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_tui_support import event, make_config, sync, wait_for, write_events
from textual import events

from pixelguard.tui.app import PixelguardApp
from pixelguard.tui.screens.dialogs import HelpScreen
from pixelguard.tui.screens.main import MainScreen
from pixelguard.tui.widgets.events import EventTable

# A latency measurement (about 15 s): CI runs it; `./scripts/test -m 'not measure'` skips it for a quick run.
pytestmark = pytest.mark.measure

RATE = 100  # events per second
SECONDS = 10

# The other process: the proxy's side of the store, pacing its puts to RATE per second.
WRITER = """
import sys, time
from pixelguard.store.event import Event
from pixelguard.store.writer import Writer
db, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
w = Writer(db).start()
print("ready", flush=True)
start = time.time()
for n in range(int(rate * seconds)):
    due = start + n / rate
    delay = due - time.time()
    if delay > 0:
        time.sleep(delay)  # pacing to the target rate
    host = f"t{n % 17}.tracker.example"
    w.put(Event(ts=time.time(), client="127.0.0.1", method="GET", url=f"https://{host}/p.gif?n={n}",
                host=host, site="news.example", type="image", reason="filter", action="blocked",
                rule=f"||{host}^", list="easyprivacy", line=n))
    w.count(seen=2, stopped=1)
w.close()
print("done", flush=True)
"""


async def answer(app: PixelguardApp, key: str, character: str, screen: type) -> float:
    """Seconds from a key arriving to the screen it opens being the current one."""
    t0 = time.monotonic()
    app.post_message(events.Key(key, character))
    while not isinstance(app.screen, screen):
        assert time.monotonic() - t0 < 10, f"no answer to {key}"
        await asyncio.sleep(0.002)
    return time.monotonic() - t0


@sync
async def test_ui_keeps_up_with_100_events_per_second_from_another_process(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    write_events(cfg.database, [event(0, time.time())])  # the database exists, as with a running proxy
    app = PixelguardApp(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(EventTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="the first row")
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cfg.database), str(RATE), str(SECONDS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            seen: set[str] = set(table.events)
            latencies: list[float] = []
            key_times: list[float] = []
            total = RATE * SECONDS
            deadline = time.monotonic() + SECONDS + 20
            next_key = time.monotonic() + 1.0
            while len(latencies) < total and time.monotonic() < deadline:
                now = time.time()
                for key, row in list(table.events.items()):
                    if key not in seen:
                        seen.add(key)
                        latencies.append(now - row["ts"])
                if time.monotonic() >= next_key:
                    # Responsiveness: open the help screen and close it again, timing each answer. The key
                    # goes in as a terminal would send it (pilot.press would also wait for the app to idle).
                    key_times.append(await answer(app, "question_mark", "?", HelpScreen))
                    key_times.append(await answer(app, "escape", "\x1b", MainScreen))
                    next_key = time.monotonic() + 1.0
                await asyncio.sleep(0.01)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # While the help screen is up the table is hidden but still updated; events seen then count late,
        # which only makes the figures worse, never better.
        median, worst = statistics.median(latencies), max(latencies)
        p95 = sorted(latencies)[int(len(latencies) * 0.95) - 1]
        print(
            f"\nUI latency over {len(latencies)} events at {RATE}/s from another process: "
            f"median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {worst * 1000:.0f} ms; "
            f"key answered in median {statistics.median(key_times) * 1000:.0f} ms, "
            f"max {max(key_times) * 1000:.0f} ms over {len(key_times)} presses"
        )
        assert len(latencies) == total, f"only {len(latencies)} of {total} events reached the table"
        newest = table.selected()
        assert newest is not None and newest["url"].endswith(f"n={total - 1}")
        # Budget: 0.5 s. Bounds kept honest for a loaded 2-core machine shared with other test runs.
        assert median < 0.5
        assert p95 < 1.0
        assert max(key_times) < 1.0
