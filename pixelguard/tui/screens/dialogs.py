"""Small modal screens: the pause duration prompt and the key help."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from pixelguard.durations import parse_duration
from pixelguard.invocation import cmd

KEYS = (
    ("a", "Allow the selected host everywhere (writes @@||host^ to your user list)"),
    ("s", "Allow the selected host on this site only (@@||host^$domain=site)"),
    ("A", "Trust the selected site: nothing is stopped on its pages"),
    ("t", "Allow the selected host everywhere for an hour; it is stopped again after"),
    ("u", "Undo the last allow or trust"),
    ("p", "Pause protection for a while, or resume it"),
    ("/", "Filter the table by host, site, URL or rule text (esc clears)"),
    ("l", "Filter lists: counts, last update; space turns one on or off; edit user and learned"),
    ("↑ ↓ pgup pgdn", "Move through the stopped requests; the pane below explains the selected one"),
    ("?", "This help"),
    ("q", "Quit"),
)


def ca_path() -> str:
    """Where the CA that clients must trust is (~ for the home directory, as a person would type it)."""
    from pixelguard import trust
    from pixelguard.tui.data import fmt_path

    return fmt_path(str(trust.ca_file(trust.confdir())))


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for key, what in KEYS:
            grid.add_row(Text(key), Text(what))
        with VerticalScroll(id="help", classes="dialog"):
            yield Label("pixelguard keys", classes="dialog-title")
            yield Static(grid, id="help-keys")
            yield Label(
                "Allow rules go to your user list; the proxy picks them up within a second.", classes="hint"
            )
            yield Label(Text(f"CA certificate: {ca_path()}"), id="help-ca", classes="hint")
            yield Label(
                f"Programs trust it after `{cmd('ca install')}`; `{cmd('doctor')}` checks the set-up.",
                classes="hint",
            )
            yield Label("esc to close; ↑ ↓ scroll when it does not fit", classes="hint")


class PauseScreen(ModalScreen[timedelta | None]):
    """Asks how long to pause; dismisses with the duration, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="pause", classes="dialog"):
            yield Label("Pause protection for how long?", classes="dialog-title")
            yield Input(value="10m", placeholder="10m, 1h, 1h30m", id="duration", select_on_focus=True)
            yield Label("enter to pause, esc to cancel", id="pause-hint", classes="hint")

    @on(Input.Submitted, "#duration")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            duration = parse_duration(event.value)
        except ValueError as e:
            hint = self.query_one("#pause-hint", Label)
            hint.update(Text(str(e)))
            hint.add_class("-error")
            return
        self.dismiss(duration)

    def action_cancel(self) -> None:
        self.dismiss(None)
