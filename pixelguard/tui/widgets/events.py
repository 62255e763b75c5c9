"""The live table of stopped requests, newest on top, capped so it stays fast at 100 events a second."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable

from pixelguard.display import clock, safe
from pixelguard.tui.data import CAP

# Fixed widths: auto-sized columns would jitter as rows stream in. Sum + padding fits 120 columns with the panel.
COLUMNS = (("time", 8), ("host", 20), ("site", 13), ("type", 6), ("reason", 7), ("list", 16))
# Engine resource types, shortened to fit the column.
SHORT_TYPES = {"xmlhttprequest": "xhr", "subdocument": "frame", "stylesheet": "css", "websocket": "ws"}


def cells(row: dict[str, Any]) -> list[Text]:
    """Table cells for one event; Text objects, so a host or list name is never read as markup, and made safe,
    so that no control character in it reaches the terminal."""
    kind = row.get("type") or ""
    return [
        Text(clock(row.get("ts"))),
        Text(safe(row.get("host") or ""), overflow="ellipsis", no_wrap=True),
        Text(safe(row.get("site") or "-"), overflow="ellipsis", no_wrap=True),
        Text(SHORT_TYPES.get(kind, kind)),
        Text(row.get("reason") or ""),
        Text(safe(row.get("list") or "-"), overflow="ellipsis", no_wrap=True),
    ]


def matches(row: dict[str, Any], text: str) -> bool:
    """The table filter, with the same meaning as queries.recent(text=...): a substring of URL, host, site or rule."""
    if not text:
        return True
    return any(text in (row.get(k) or "") for k in ("url", "host", "site", "rule"))


class EventTable(DataTable):
    """A DataTable whose rows are events keyed by their id, newest first."""

    def __init__(self, *, cap: int = CAP, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.cap = cap
        self._shrink_render_caches()
        self.events: dict[str, dict[str, Any]] = {}  # row key → event row

    def _shrink_render_caches(self) -> None:
        """Size DataTable's render caches for a screenful, not for 10,000 cells.

        Every batch of new rows renumbers the rows, so cached renders of old positions are never used again;
        large caches only fill with them. At 100 events a second they held ~250,000 objects, and each of the
        garbage collector's full passes over them froze the UI (and its database thread) for 200-300 ms.
        """
        from textual.cache import LRUCache

        for name, size in (
            ("_cell_render_cache", 2000),
            ("_row_render_cache", 200),
            ("_row_renderable_cache", 200),
            ("_line_cache", 200),
        ):
            # Private to DataTable: if a Textual release renames one, it keeps its default size.
            if hasattr(self, name):
                setattr(self, name, LRUCache(size))

    def on_mount(self) -> None:
        for name, width in COLUMNS:
            self.add_column(name, width=width, key=name)

    def selected(self) -> dict[str, Any] | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return self.events.get(str(key.value))

    def replace(self, rows_newest_first: list[dict[str, Any]]) -> None:
        self.clear()
        self.events.clear()
        for row in reversed(rows_newest_first[: self.cap]):
            self._add(row)
        self._order()

    def prepend(self, rows_oldest_first: list[dict[str, Any]]) -> int:
        """Put new events on top in one go; returns how many rows were added."""
        rows = [r for r in rows_oldest_first[-self.cap :] if str(r["id"]) not in self.events]
        if not rows:
            return 0
        for row in rows:
            self._add(row)
        overflow = len(self.events) - self.cap
        if overflow > 0:
            for key in sorted(self.events, key=int)[:overflow]:
                # Dropped straight from the table's maps: remove_row renumbers every row on each call.
                del self.events[key]
                del self.rows[self._row_key(key)]
                del self._data[self._row_key(key)]
        self._order()
        return len(rows)

    def _row_key(self, key: str) -> Any:
        from textual.widgets._data_table import RowKey

        return RowKey(key)

    def _add(self, row: dict[str, Any]) -> None:
        key = str(row["id"])
        self.events[key] = row
        self.add_row(*cells(row), key=key)

    def _order(self) -> None:
        # One renumbering per batch instead of DataTable.sort's per-cell key; newest (largest id) first.
        order = sorted(self.rows, key=lambda k: -int(str(k.value)))
        self._row_locations = TwoWayDict({k: i for i, k in enumerate(order)})
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate  # re-validated against the new row count
        self.refresh()
