"""The live table of stopped requests, newest on top, capped so it stays fast at 100 events a second."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable

from pixelguard.display import clock, safe
from pixelguard.tui.data import CAP

# Column widths are set from the table's width (layout), never from the rows: auto-sized columns would jitter as
# rows stream in. Fixed columns hold their longest value ("document", "learned"); the others share what is left.
FIXED = {"time": 8, "type": 8, "reason": 7}
FLEX = (("host", 5, 12), ("site", 3, 9), ("list", 3, 9), ("rule", 8, 16))  # name, share, minimum
RULE_FROM = 100  # the rule column shows in tables at least this wide (a 160-column terminal)
# Engine resource types, shortened to fit the column.
SHORT_TYPES = {"xmlhttprequest": "xhr", "subdocument": "frame", "stylesheet": "css", "websocket": "ws"}


def layout(width: int) -> tuple[tuple[str, int], ...]:
    """(column, width) for a table ``width`` cells wide: each column takes 2 more for padding, the scrollbar 2."""
    names = ["time", "host", "site", "type", "reason", "list"] + (["rule"] if width >= RULE_FROM else [])
    flex = [f for f in FLEX if f[0] in names]
    free = width - 2 - sum(FIXED.values()) - 2 * len(names)
    shares = sum(share for _, share, _ in flex)
    widths = {name: max(least, free * share // shares) for name, share, least in flex}
    return tuple((n, FIXED.get(n) or widths[n]) for n in names)


def cells(row: dict[str, Any], columns: tuple[tuple[str, int], ...]) -> list[Text]:
    """Table cells for one event; Text objects, so a host or list name is never read as markup, and made safe,
    so that no control character in it reaches the terminal."""
    out = []
    for name, width in columns:
        if name == "time":
            out.append(Text(clock(row.get("ts"))))
        elif name == "type":
            kind = row.get("type") or ""
            out.append(Text(SHORT_TYPES.get(kind, kind)))
        elif name == "reason":
            out.append(Text(row.get("reason") or ""))
        elif name == "list":
            # Cut at the front: list names share their start (pixelguard-email, pixelguard-params, adguard-base,
            # adguard-tracking) and differ at the end.
            value = safe(row.get(name) or "-")
            out.append(Text(value if len(value) <= width else "…" + value[-(width - 1) :], no_wrap=True))
        else:  # host, site, rule: from the network or the lists
            value = safe(row.get(name) or ("" if name == "host" else "-"))
            out.append(Text(value, overflow="ellipsis", no_wrap=True))
    return out


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
        # Until the first resize: the table's width in a 120-column terminal, beside the side panel.
        self.column_layout = layout(83)

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
        for name, width in self.column_layout:
            self.add_column(name, width=width, key=name)

    def on_resize(self) -> None:
        wanted = layout(self.size.width)
        if wanted == self.column_layout or not self.size.width:
            return
        # Rebuilt whole: DataTable has no public way to change a column's width or add one to existing rows.
        row = self.cursor_row
        rows = sorted(self.events.values(), key=lambda r: -int(r["id"]))
        self.clear(columns=True)
        self.column_layout = wanted
        for name, width in wanted:
            self.add_column(name, width=width, key=name)
        self.replace(rows)
        if rows:
            self.move_cursor(row=min(row, len(rows) - 1))

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
        self.add_row(*cells(row, self.column_layout), key=key)

    def _order(self) -> None:
        # One renumbering per batch instead of DataTable.sort's per-cell key; newest (largest id) first.
        order = sorted(self.rows, key=lambda k: -int(str(k.value)))
        self._row_locations = TwoWayDict({k: i for i, k in enumerate(order)})
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate  # re-validated against the new row count
        self.refresh()
