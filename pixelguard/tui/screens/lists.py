"""The lists screen: every filter list with its counts; the user and learned lists open in an editor."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from pixelguard.display import when
from pixelguard.tui.data import fmt_path, list_rows
from pixelguard.tui.messages import ListsLoaded

EDITABLE = ("user", "learned")


def _count(value: Any) -> str:
    """A rule count; "-" when the list file does not exist (yet)."""
    if isinstance(value, dict):
        value = sum(value.values())
    return "-" if value is None else f"{value:,}"


class ListsScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l", "app.pop_screen", "Back"),
        Binding("e", "edit", "Edit list"),
        Binding("space", "toggle_list", "On/off"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="lists-body"):
            yield Label("Filter lists", classes="panel-title")
            yield DataTable(id="lists", cursor_type="row", zebra_stripes=True)
            yield Label(
                "space: list on/off (saved in the config file; the proxy follows within a second).  "
                "enter on user or learned: edit it.",
                classes="hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#lists", DataTable)
        for name, width in (
            ("list", 18),
            ("enabled", 7),
            ("rules", 8),
            ("skipped", 8),
            ("updated", 16),
            ("source", 50),
        ):
            table.add_column(name, width=width, key=name)
        table.focus()
        self._load()

    @work(thread=True, exclusive=True, group="lists")
    def _load(self) -> None:
        # Reading (and for subscriptions, counting) list files is file I/O: never on the event loop.
        self.post_message(ListsLoaded(list_rows(self.app.cfg)))  # type: ignore[attr-defined]

    @on(ListsLoaded)
    def _loaded(self, message: ListsLoaded) -> None:
        self.rows = message.rows
        table = self.query_one("#lists", DataTable)
        table.clear()
        for row in self.rows:
            table.add_row(
                Text(row["name"], style="bold" if row["name"] in EDITABLE else ""),
                Text("yes" if row.get("enabled", True) else "no"),
                Text(_count(row.get("rules")), justify="right"),
                Text(_count(row.get("skipped")), justify="right"),
                Text(when(row.get("updated_ts"))),
                Text(fmt_path(row.get("source") or row.get("path") or ""), overflow="ellipsis", no_wrap=True),
                key=row["name"],
            )

    def _selected_name(self) -> str | None:
        table = self.query_one("#lists", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_toggle_list(self) -> None:
        name = self._selected_name()
        if name is None:
            return
        row = next((r for r in self.rows if r["name"] == name), None)
        if name in EDITABLE or row is None:
            self.notify(f"The {name} list is always on: it holds your own rules.", markup=False)
            return
        self._toggle(name, not row.get("enabled", True))

    @work(thread=True, exclusive=True, group="lists")
    def _toggle(self, name: str, enabled: bool) -> None:
        # Reads and writes the config file: in a thread, like every other file access of this screen.
        import dataclasses

        from pixelguard import config as configmod
        from pixelguard.config_edit import set_list_enabled
        from pixelguard.errors import PixelguardError

        app: Any = self.app
        try:
            path = set_list_enabled(app.cfg, name, enabled)
            app.cfg = dataclasses.replace(app.cfg, lists=configmod.load(path).lists)
        except PixelguardError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", markup=False)
            return
        state = "on" if enabled else "off"
        self.app.call_from_thread(
            self.notify, f"{name} turned {state} in {path}; the proxy follows within a second.", markup=False
        )
        self.post_message(ListsLoaded(list_rows(app.cfg)))

    def action_reload(self) -> None:
        self._load()

    @on(DataTable.RowSelected, "#lists")
    def _selected(self) -> None:
        self.action_edit()

    def action_edit(self) -> None:
        name = self._selected_name()
        if name is None:
            return
        if name not in EDITABLE:
            self.notify(f"{name} is not edited here: only the user and learned lists are yours to change.")
            return
        cfg: Any = self.app.cfg  # type: ignore[attr-defined]
        path: Path = cfg.user_list if name == "user" else cfg.learned_list
        from pixelguard.tui.screens.editor import ListEditor

        def reload(_saved: bool | None) -> None:
            self._load()

        self.app.push_screen(ListEditor(name, path), reload)
