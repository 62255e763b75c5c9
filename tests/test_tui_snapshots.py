"""Snapshots of the UI's look: fixed terminal size, data, clock and time zone; no cursor blink.

Update after an intended change of the look with:
    .venv/bin/python -m pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from test_tui_support import event, make_config, wait_for, write_events

from pixelguard.tui.app import PixelguardApp
from pixelguard.tui.screens.lists_screen import ListsScreen
from pixelguard.tui.widgets.detail import DetailPane
from pixelguard.tui.widgets.events import EventTable
from pixelguard.tui.widgets.status_bar import StatusBar

FIXED = 1_784_987_400.0  # 2026-07-25 13:50:00 UTC, a fixed "now" for the clock and the data
SIZE = (120, 40)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def fixed_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None) -> PixelguardApp:
    monkeypatch.setenv("HOME", str(tmp_path))  # paths show as ~/..., the same on every machine
    cfg = make_config(tmp_path, "default_lists: false\nlists:\n  - {name: trackers, path: trackers.txt}\n")
    (tmp_path / "trackers.txt").write_text(
        "! local list\n||www.google-analytics.com^$third-party\n||bat.bing.com^\n##.banner\n",
        encoding="utf-8",
    )
    cfg.user_list.write_text("! my rules\n@@||cdn.example^\n", encoding="utf-8")
    cfg.learned_list.write_text("||px.example^$image\n", encoding="utf-8")
    for p in (tmp_path / "trackers.txt", cfg.user_list, cfg.learned_list):
        os.utime(p, (FIXED - 7200, FIXED - 7200))
    write_events(cfg.database, [event(i, FIXED - 37 * (40 - i)) for i in range(40)], seen_per_event=0)
    # Per-minute counters as the proxy keeps them (Writer.count stamps the real current minute, so the fixed
    # hour is written directly): a curve over the last hour for the sparkline and today's totals.
    with sqlite3.connect(cfg.database) as conn:
        minute = int(FIXED // 60)
        conn.executemany(
            "INSERT INTO counters (minute, seen, stopped) VALUES (?, ?, ?)",
            [(minute - m, 40 + (m * 7) % 23, (m * 5) % 11) for m in range(60)],
        )
    return PixelguardApp(cfg, clock=lambda: FIXED, listen="127.0.0.1:8080")


async def settled(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.query(EventTable), what="the main screen")
    screen = pilot.app.screen
    table = screen.query_one(EventTable)
    await wait_for(pilot, lambda: table.row_count == 40, what="the rows")
    status = screen.query_one(StatusBar)
    await wait_for(pilot, lambda: status.overview is not None and status.overview.seen > 0, what="totals")
    detail = screen.query_one(DetailPane)
    await wait_for(pilot, lambda: "→" in "".join(detail.render_line(y).text for y in range(8)), what="span")


def test_main_screen(snap_compare, fixed_app: PixelguardApp) -> None:
    assert snap_compare(fixed_app, terminal_size=SIZE, run_before=settled)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_main_screen_at_the_smallest_and_a_wide_terminal(
    snap_compare, fixed_app: PixelguardApp, size
) -> None:
    assert snap_compare(fixed_app, terminal_size=size, run_before=settled)


def test_detail_of_a_pixel(snap_compare, fixed_app: PixelguardApp) -> None:
    async def run_before(pilot) -> None:
        await settled(pilot)
        await pilot.press("down", "down", "down", "down")
        table = pilot.app.screen.query_one(EventTable)
        assert table.selected()["reason"] == "pixel"
        await settled(pilot)

    assert snap_compare(fixed_app, terminal_size=SIZE, run_before=run_before)


def test_lists_screen(snap_compare, fixed_app: PixelguardApp) -> None:
    async def run_before(pilot) -> None:
        await settled(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ListsScreen), what="the lists screen")
        table = pilot.app.screen.query_one("#lists")
        await wait_for(pilot, lambda: table.row_count == 3, what="the lists")

    assert snap_compare(fixed_app, terminal_size=SIZE, run_before=run_before)
