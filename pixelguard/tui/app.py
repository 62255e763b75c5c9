"""The pixelguard terminal UI: watch trackers being stopped live, see why, allow a domain with one key.

``pixelguard ui`` attaches to the database and lists of a proxy running elsewhere (run_ui); ``pixelguard``
passes a ``proxy_runner`` coroutine function so proxy and UI share one process and one event loop.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import Notify
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from pixelguard.config import Config
from pixelguard.invocation import cmd
from pixelguard.tui.screens.dialogs import HelpScreen
from pixelguard.tui.screens.main import MainScreen
from pixelguard.tui.widgets.status_bar import MessageBar, StatusBar

log = logging.getLogger(__name__)


class PixelguardApp(App[None]):
    CSS_PATH = "pixelguard.tcss"
    TITLE = "pixelguard"
    ENABLE_COMMAND_PALETTE = False  # every action has its key; the palette would only repeat them
    # Below 100 columns the side panel (top trackers, sparkline) gives its room to the table of stops.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal")]  # noqa: RUF012 (Textual types it as an instance variable)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self,
        cfg: Config,
        *,
        proxy_runner: Callable[[], Awaitable[Any]] | None = None,
        listen: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.proxy_runner = proxy_runner
        self.listen = listen
        self.clock = clock  # "now" for today's totals and the sparkline; fixed in snapshot tests
        self.proxy_stopped: str | None = None  # why the proxy_runner ended, when it did

    def get_default_screen(self) -> Screen:
        return MainScreen()

    def on_mount(self) -> None:
        # Everything alive now (modules, Textual, this app) lives as long as the app: take it out of the
        # garbage collector's full passes, which otherwise walk it every second or so under a stream of
        # events and freeze the UI and its database thread for 100 ms and more each time.
        gc.freeze()
        missing = [s.name for s in self.cfg.enabled_lists() if s.url and not s.file.exists()]
        if missing:
            # Offline on the first start: say it once, plainly, instead of a silent gap in the protection.
            self.notify(
                f"Not downloaded yet: {', '.join(missing)}. Until a download succeeds "
                f"(the proxy retries; `{cmd('lists update')}` tries now), those lists block nothing.",
                severity="warning",
                timeout=30,
                markup=False,
            )
        if self.proxy_runner is not None:
            # Same event loop as the UI; cancelled with the app's other workers on quit.
            self.run_worker(self.proxy_runner(), name="proxy", group="proxy", exit_on_error=False)

    def on_unmount(self) -> None:
        gc.unfreeze()  # whatever the app held can be collected again (tests run many apps in one process)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "proxy":
            return
        if event.state == WorkerState.ERROR:
            log.error("proxy stopped: %s", event.worker.error)
            self.proxy_stopped = str(event.worker.error) or type(event.worker.error).__name__
        elif event.state == WorkerState.SUCCESS:
            self.proxy_stopped = "it exited"
        else:
            return
        # The header says so for as long as the UI runs (a toast would vanish, and "protection on" would stay).
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.stopped = self.proxy_stopped

    def on_notify(self, event: Notify) -> None:
        """Every notification also goes to the message line of each screen that has one (toasts are hidden)."""
        n = event.notification
        text = Text.from_markup(n.message) if n.markup else Text(n.message)
        if n.title:
            text = Text.assemble((f"{n.title}: ", "bold"), text)
        for screen in self.screen_stack:
            for bar in screen.query(MessageBar):
                bar.show(text, n.severity, n.timeout)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def run_ui(cfg: Config) -> None:
    """``pixelguard ui``: the UI on the configured database and lists of a proxy in another process."""
    PixelguardApp(cfg).run()
