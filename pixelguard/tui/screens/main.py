"""The main screen: live table of stopped requests, detail pane, top trackers, and the allow keys."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input
from textual.worker import get_current_worker

from pixelguard import display
from pixelguard.display import safe
from pixelguard.errors import PixelguardError
from pixelguard.invocation import cmd
from pixelguard.store.queries import TAIL_BATCH
from pixelguard.tui.data import Feed, LearnedWatcher, Overview
from pixelguard.tui.messages import EventsArrived, FeedProblem, HostSpanLoaded, OverviewUpdated, RulesLearned
from pixelguard.tui.widgets.detail import DetailPane
from pixelguard.tui.widgets.events import EventTable, matches
from pixelguard.tui.widgets.status_bar import MessageBar, StatusBar
from pixelguard.tui.widgets.trackers import TrackersPanel

log = logging.getLogger(__name__)

# How often the database is asked whether anything changed (one cheap step; rows are read only when it did).
# The UI shows an event within this plus the writer's flush.
POLL_SECONDS = 0.05
OVERVIEW_SECONDS = 2.0
RETRY_SECONDS = 1.0


# What `t` allows the selected host for: long enough to finish what broke, short enough to be forgotten.
TEMPORARY = timedelta(hours=1)


class MainScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        # Help and Quit first: the footer shows keys in this order and cuts the last ones on a narrow terminal.
        # Short labels, so that every key fits in 80 columns (the help screen says each in full).
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
        Binding("a", "allow", "Allow"),
        Binding("s", "allow_on_site", "On site"),
        Binding("A", "trust_site", "Trust"),
        Binding("t", "allow_for_an_hour", "1 hour"),
        Binding("u", "undo", "Undo"),
        Binding("p", "pause", "Pause"),
        Binding("slash", "filter", "Filter"),
        Binding("l", "lists", "Lists"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    filter_text: var[str] = var("")
    overview: var[Overview | None] = var(None)

    def __init__(self) -> None:
        super().__init__()
        self._requests: queue.Queue[tuple[str, str]] = queue.Queue()
        self._stop = threading.Event()
        # (kind, domain or site, site) of each allow; ("learned", host, rule) of each rule the proxy learned
        self._undo: list[tuple[str, str, str | None]] = []
        self._span_host: str | None = None
        self._span: tuple[float, float] | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Input(
                    placeholder="filter by host, site, URL or rule text (enter: keep, esc: clear)",
                    id="filter",
                )
                yield EventTable(id="events")
                yield DetailPane(id="detail")
            yield TrackersPanel(id="side")
        yield MessageBar(classes="message")
        yield Footer()

    def on_mount(self) -> None:
        detail = self.query_one(DetailPane)
        detail.first_steps = self._first_steps()
        detail.show(None)
        self.query_one(EventTable).focus()
        self._db_loop()

    def on_unmount(self) -> None:
        self._stop.set()

    def _first_steps(self) -> Text:
        """Until a row is selected: what to do for the first stopped tracker to appear (a new user's empty
        table says nothing by itself)."""
        from pixelguard import trust

        app: Any = self.app
        listen = app.listen or f"{app.cfg.proxy.host}:{app.cfg.proxy.port}"
        ca = trust.ca_file(trust.confdir())
        steps = (
            "Nothing selected. Seeing nothing at all? To start:\n"
            f"1. Point your browser or mail client at the HTTP proxy {listen} (for HTTPS too).\n"
            f"2. Trust the CA so that HTTPS works: {cmd('ca install')}  (the certificate: {ca})\n"
            f"3. Open http://pixelguard.test/ there: it says whether the proxy, the CA and blocking work.\n"
            f"4. Load any page: what pixelguard stops appears here; {cmd('doctor')} checks the set-up."
        )
        return Text(
            "\n".join(safe(line) for line in steps.split("\n")), style="dim"
        )  # paths may hold anything

    def on_resize(self) -> None:
        # On a narrow terminal the footer drops its padding so that every key still shows.
        self.query_one(Footer).compact = self.size.width < 100

    # -- the database thread -----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="feed", exit_on_error=False)
    def _db_loop(self) -> None:
        """Every SQLite read of this screen happens here, on one connection, in order."""
        worker = get_current_worker()
        app: Any = self.app
        feed = Feed(app.cfg, clock=app.clock, listen=app.listen)
        learned = LearnedWatcher(app.cfg.learned_list)
        loaded = False
        problem: str | None = None
        next_overview = 0.0
        try:
            while not (worker.is_cancelled or self._stop.is_set()):
                try:
                    if not loaded:
                        self.post_message(EventsArrived(feed.reload(self.filter_text), reset=True))
                        loaded = True
                        if problem is not None:
                            problem = None
                            self.post_message(FeedProblem(None))
                    try:
                        kind, arg = self._requests.get(timeout=POLL_SECONDS)
                    except queue.Empty:
                        kind, arg = "", ""
                    if kind == "reload":
                        self.post_message(EventsArrived(feed.reload(arg), reset=True))
                    elif kind == "span":
                        self.post_message(HostSpanLoaded(arg, feed.host_span(arg)))
                    elif kind == "overview":
                        next_overview = 0.0
                    rows = feed.poll()
                    while rows:
                        self.post_message(EventsArrived(rows))
                        rows = feed.poll() if len(rows) >= TAIL_BATCH else []
                    if time.monotonic() >= next_overview:
                        self.post_message(OverviewUpdated(feed.overview()))
                        next_overview = time.monotonic() + OVERVIEW_SECONDS
                        new_rules = learned.poll()
                        if new_rules:
                            self.post_message(RulesLearned(new_rules))
                except (FileNotFoundError, sqlite3.Error, PixelguardError) as e:
                    # No database yet (proxy never started) or a store that is not there: say so, retry.
                    feed.close()
                    if str(e) != problem:
                        problem = str(e)
                        self.post_message(FeedProblem(problem))
                    self.post_message(OverviewUpdated(feed.overview()))
                    self._stop.wait(RETRY_SECONDS)
        finally:
            feed.close()

    # -- messages from the thread -----------------------------------------------------------------------

    @on(EventsArrived)
    def _events_arrived(self, message: EventsArrived) -> None:
        table = self.query_one(EventTable)
        if message.reset:
            table.replace(message.rows)
            self._show_detail()
        else:
            rows = [r for r in message.rows if matches(r, self.filter_text)]
            row_before = table.cursor_row
            added = table.prepend(rows)
            if added and row_before > 0:
                # Someone is reading an older row: keep the cursor on it rather than on whatever slid under it.
                table.move_cursor(row=min(row_before + added, table.row_count - 1), animate=False)
            elif added:
                self._show_detail()

    @on(OverviewUpdated)
    def _overview_updated(self, message: OverviewUpdated) -> None:
        self.overview = message.overview

    def watch_overview(self, overview: Overview | None) -> None:
        if overview is None:
            return
        self.query_one(StatusBar).overview = overview
        self.query_one(TrackersPanel).show(overview.top, overview.per_minute)

    @on(RulesLearned)
    def _rules_learned(self, message: RulesLearned) -> None:
        for host, rule in message.rules:
            self._undo.append(("learned", host, rule))
            self.notify(
                safe(
                    f"Learned {rule}: {host} served tracking pixels on several sites or mails. u: undo (forget it)"
                ),
                severity="warning",
                timeout=20,
                markup=False,
            )

    @on(FeedProblem)
    def _feed_problem(self, message: FeedProblem) -> None:
        self.query_one(StatusBar).problem = message.text

    @on(HostSpanLoaded)
    def _span_loaded(self, message: HostSpanLoaded) -> None:
        self._span_host, self._span = message.host, message.span
        row = self.query_one(EventTable).selected()
        if row is not None and row.get("host") == message.host:
            self.query_one(DetailPane).show(row, message.span)

    @on(DataTable.RowHighlighted, "#events")
    def _row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        row = self.query_one(EventTable).selected()
        host = row.get("host") if row else None
        span = self._span if host and host == self._span_host else None
        self.query_one(DetailPane).show(row, span)
        if host:
            self._requests.put(("span", host))

    # -- filter ------------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.remove_class("-shown")
        self.query_one(EventTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one(EventTable).focus()

    def watch_filter_text(self, text: str) -> None:
        self.query_one("#filter", Input).set_class(bool(text), "-active")
        self._requests.put(("reload", text))

    # -- allow / undo ------------------------------------------------------------------------------------

    def _selected(self) -> dict[str, Any] | None:
        row = self.query_one(EventTable).selected()
        if row is None:
            self.notify("No request selected.", severity="warning")
        return row

    def action_allow(self) -> None:
        row = self._selected()
        if row is not None:
            self._write("allow", row["host"], None)

    def action_allow_for_an_hour(self) -> None:
        row = self._selected()
        if row is not None:
            self._write("allow", row["host"], None, TEMPORARY)

    def action_allow_on_site(self) -> None:
        row = self._selected()
        if row is None:
            return
        if not row.get("site"):
            self.notify("This request has no known site (a mail client?): use a to allow it everywhere.")
            return
        self._write("allow", row["host"], row["site"])

    def action_trust_site(self) -> None:
        row = self._selected()
        if row is None:
            return
        if not row.get("site"):
            self.notify("This request has no known site to trust.", severity="warning")
            return
        self._write("trust", row["site"], None)

    def action_undo(self) -> None:
        if not self._undo:
            self.notify("Nothing to undo.")
            return
        kind, target, site = self._undo.pop()
        undo = {"allow": "unallow", "trust": "untrust", "learned": "unlearn"}[kind]
        self._write(undo, target, site)

    @work(thread=True, group="write")
    def _write(self, kind: str, target: str, site: str | None, for_: timedelta | None = None) -> None:
        """Edit the user list off the event loop; the proxy sees the file change within a second."""
        from pixelguard import lists

        app: Any = self.app
        path = app.cfg.user_list
        try:
            if hasattr(lists, "ensure_user_list"):
                lists.ensure_user_list(path)
            if kind == "allow":
                until = datetime.now(UTC) + for_ if for_ is not None else None
                changed = lists.allow(path, target, site=site, until=until)
            elif kind == "unallow":
                changed = lists.unallow(path, target, site=site)
            elif kind == "trust":
                changed = lists.trust_site(path, target)
            elif kind == "unlearn":
                path = app.cfg.learned_list
                changed = lists.remove_learned(path, target)
            else:
                changed = lists.untrust_site(path, target)
        except (PixelguardError, OSError, ValueError) as e:
            app.call_from_thread(
                app.notify, safe(f"Could not write {path}: {e}"), severity="error", markup=False
            )
            return
        app.call_from_thread(self._written, kind, target, site, changed, for_)

    def _written(
        self, kind: str, target: str, site: str | None, changed: bool, for_: timedelta | None = None
    ) -> None:
        from pixelguard import lists

        app: Any = self.app
        name = app.cfg.user_list.name
        if kind in ("allow", "trust"):
            if changed:
                self._undo.append((kind, target, site))
            rule = lists.allow_rule(target, site) if kind == "allow" else None
            what = (
                f"Allowed {target} on {site}"
                if kind == "allow" and site
                else f"Allowed {target} everywhere for {display.period(for_.total_seconds())}"
                if kind == "allow" and for_ is not None
                else f"Allowed {target} everywhere"
                if kind == "allow"
                else f"Trusted everything on {target}"
            )
            if kind == "allow" and app.cfg.privacy.redact_allowed:
                what += ", identifiers removed"  # its requests pass without client IDs and tracker cookies
            detail = f"wrote {rule} to {name}" if rule and changed else f"{name} updated"
            if not changed:
                detail = f"already in {name}"
            self.notify(safe(f"{what}: {detail}"), markup=False)
        elif kind == "unlearn":
            where = app.cfg.learned_list.name
            note = f"removed {site} from {where}" if changed else f"it was no longer in {where}"
            self.notify(safe(f"Undone. Forgot what was learned about {target}: {note}"), markup=False)
        else:
            verb = "Removed the allow rule for" if kind == "unallow" else "No longer trusting"
            where = f" on {site}" if site else ""
            note = "" if changed else f" (it was not in {name})"
            self.notify(safe(f"Undone. {verb} {target}{where}{note}"), markup=False)

    # -- pause / lists -----------------------------------------------------------------------------------

    def action_pause(self) -> None:
        overview = self.overview
        if overview is not None and overview.protection.paused_until is not None:
            self._pause(None)
            return
        from pixelguard.tui.screens.dialogs import PauseScreen

        self.app.push_screen(PauseScreen(), self._pause_chosen)

    def _pause_chosen(self, duration: timedelta | None) -> None:
        if duration is not None:
            self._pause(duration)

    @work(thread=True, group="write")
    def _pause(self, duration: timedelta | None) -> None:
        from pixelguard import pause

        app: Any = self.app
        try:
            if duration is None:
                pause.resume(app.cfg.data_dir)
                message = "Protection resumed."
            else:
                until = datetime.fromtimestamp(time.time(), UTC) + duration
                pause.pause(app.cfg.data_dir, until)
                message = f"Protection paused until {until.astimezone().strftime('%H:%M')}."
        except (PixelguardError, OSError, ValueError) as e:
            app.call_from_thread(app.notify, f"Could not change the pause state: {e}", severity="error")
            return
        self._requests.put(("overview", ""))
        app.call_from_thread(app.notify, message)

    def action_lists(self) -> None:
        from pixelguard.tui.screens.lists_screen import ListsScreen

        self.app.push_screen(ListsScreen())
