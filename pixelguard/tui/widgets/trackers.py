"""Top trackers today and a sparkline of stops per minute over the last hour."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Sparkline

from pixelguard.display import safe


class TrackersPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Top trackers today", classes="panel-title")
        yield DataTable(id="top", cursor_type="none", show_cursor=False)
        yield Label("Stops/minute, last hour", id="spark-title", classes="panel-title")
        yield Sparkline([0] * 60, id="spark")

    def on_mount(self) -> None:
        top = self.query_one("#top", DataTable)
        top.add_column("host", width=17, key="host")
        top.add_column("count", width=5, key="count")
        top.add_column("sites", width=5, key="sites")

    def show(self, top: list[dict[str, Any]], per_minute: list[int]) -> None:
        table = self.query_one("#top", DataTable)
        table.clear()
        for row in top:
            table.add_row(
                Text(safe(row["host"]), overflow="ellipsis", no_wrap=True),
                Text(f"{row['count']:,}", justify="right"),
                # no page (an app, a mail client, a request without a Referer): "-", not a count of 0
                Text(f"{row['sites']:,}" if row["sites"] else "-", justify="right"),
            )
        self.query_one("#spark", Sparkline).data = per_minute
        peak = max(per_minute, default=0)
        self.query_one("#spark-title", Label).update(f"Stops/minute, last hour (peak {peak:,})")
