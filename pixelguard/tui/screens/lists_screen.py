"""The lists screen: every filter list with its counts; the user and learned lists open in an editor.

Below them: which connections pixelguard does not decrypt (TLS passthrough), including the hosts it learned
because a client refused its certificate, and the tunnels of the last day it relayed as raw bytes (not HTTP), so
a person can see why an app's trackers are not stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from pixelguard import relays
from pixelguard.display import safe, when
from pixelguard.invocation import cmd
from pixelguard.tui.data import Passthrough, fmt_path, list_rows, passthrough
from pixelguard.tui.messages import ListsLoaded
from pixelguard.tui.widgets.status_bar import MessageBar

EDITABLE = ("user", "learned")
MAX_LEARNED_SHOWN = 5  # the panel stays a few lines high, even at 80x24; the CLI prints them all


def _count(value: Any) -> str:
    """A rule count; "-" when the list file does not exist (yet)."""
    if isinstance(value, dict):
        value = sum(value.values())
    return "-" if value is None else f"{value:,}"


def _updated(row: dict[str, Any]) -> Text:
    """When the list was updated; a subscription with no copy yet says so (offline on the first start)."""
    if row.get("exists") is False and row.get("enabled", True) and row["name"] not in EDITABLE:
        return Text("not downloaded", style="bold red")
    return Text(when(row.get("updated_ts")))


def passthrough_text(p: Passthrough) -> Text:
    """The passthrough panel; learned hosts come from clients' TLS hellos and relayed ones from their CONNECTs, so
    they are shown escaped."""
    text = Text()
    configured = f"{len(p.configured)} in tls.passthrough" if p.configured else "none in tls.passthrough"
    learning = "on" if p.learn else "off"
    text.append(f"{p.bundled:,} sensitive sites bundled, {configured}, learning {learning}.\n")
    if p.relayed:
        text.append("Relayed as raw bytes in the last 24 h (not HTTP, only the host decided): ", style="bold")
        text.append(relays.summary(p.relayed) + "\n")
    if p.unread:
        text.append("Read in part in the last 24 h: ", style="bold")
        text.append(relays.unread_summary(p.unread) + ".\n")
    if not p.learned:
        text.append("Learned from refused certificates: none.", style="dim")
        return text
    text.append(
        f"Learned from refused certificates ({len(p.learned)}): only host rules apply to them.", style="bold"
    )
    text.append(f"  To decrypt one again: {cmd('tls forget HOST')}", style="dim")
    shown = p.learned[:MAX_LEARNED_SHOWN]
    for client, host in shown:
        text.append(f"\n  {safe(host)}", style="bold")
        text.append(f"  for client {safe(client)}")
    if len(p.learned) > len(shown):
        text.append(f"\n  … and {len(p.learned) - len(shown):,} more ({cmd('tls')} lists them all)")
    return text


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
            yield Label("Not decrypted (TLS passthrough)", classes="panel-title")
            yield Static("loading…", id="passthrough")
        yield MessageBar(classes="message")
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
        cfg = self.app.cfg  # type: ignore[attr-defined]
        self.post_message(ListsLoaded(list_rows(cfg), passthrough(cfg)))

    @on(ListsLoaded)
    def _loaded(self, message: ListsLoaded) -> None:
        self.rows = message.rows
        table = self.query_one("#lists", DataTable)
        # Reloading (after space, say) must leave the cursor on the same list, or a second space would toggle
        # whichever list is first.
        selected = self._selected_name()
        table.clear()
        for row in self.rows:
            table.add_row(
                Text(row["name"], style="bold" if row["name"] in EDITABLE else ""),
                Text("yes" if row.get("enabled", True) else "no"),
                Text(_count(row.get("rules")), justify="right"),
                Text(_count(row.get("skipped")), justify="right"),
                _updated(row),
                Text(fmt_path(row.get("source") or row.get("path") or ""), overflow="ellipsis", no_wrap=True),
                key=row["name"],
            )
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        if message.passthrough is not None:
            self.query_one("#passthrough", Static).update(passthrough_text(message.passthrough))

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
