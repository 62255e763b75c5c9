"""The header line: protection state, where the proxy listens, and today's numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.reactive import var
from textual.timer import Timer
from textual.widgets import Static

from pixelguard.display import safe
from pixelguard.tui.data import Overview, local_hhmm


class StatusBar(Static):
    """One line that fits the terminal (the longest form that does), and under it, wrapped to the full width,
    what is wrong when something is: the proxy stopped, or the history cannot be read."""

    overview: var[Overview | None] = var(None)
    problem: var[str | None] = var(None)
    stopped: var[str | None] = var(None)  # why the proxy running inside this UI stopped

    def watch_overview(self, overview: Overview | None) -> None:
        paused = overview is not None and overview.protection.paused_until is not None
        self.set_class(paused, "-paused")
        self.update(self._render_text())

    def watch_problem(self, problem: str | None) -> None:
        self.set_class(problem is not None or self.stopped is not None, "-problem")
        self.update(self._render_text())

    def watch_stopped(self, stopped: str | None) -> None:
        self.watch_problem(self.problem)

    def on_resize(self) -> None:
        self.update(self._render_text())

    def _render_text(self) -> Text:
        width = self.size.width
        for form in range(3):
            text = self._line(form)
            if not width or text.cell_len <= width:
                break
        for why in (self.stopped, self.problem):
            if why:
                text.append("\n⚠ ", style="bold")
                # Never markup, no control characters: it may quote a file name or a host.
                text.append(safe(why))
        return text

    def _line(self, form: int) -> Text:
        """The header line, from the full form (0) to the shortest (2)."""
        text = Text()
        text.append(" pixelguard ", style="bold reverse")
        o = self.overview
        if o is None:
            text.append("  loading…")
            return text
        p = o.protection
        text.append("  ")
        if self.stopped is not None:
            text.append("■ proxy stopped", style="bold")
        elif p.listen is None:
            # The same answer as `pixelguard service status`: nothing is protecting while no proxy runs.
            text.append(
                "○ protection off: no proxy running" if form == 0 else "○ off: no proxy", style="bold"
            )
        elif p.paused_until is not None:
            text.append(f"⏸ paused until {_hhmm(p.paused_until)}", style="bold")
        elif p.mode == "hosts-only":
            text.append("● on, hosts-only mode" if form < 2 else "● on, hosts-only", style="bold")
        else:
            text.append("● protection on" if form == 0 else "● on", style="bold")
        if p.gpc and p.paused_until is None and self.stopped is None and p.listen and form < 2:
            text.append(" · GPC")  # Sec-GPC: 1 goes out with every request passed upstream
        if p.undecrypted and self.stopped is None and p.listen:
            # Less protection than usual: these hosts' requests are seen by host only (see `pixelguard tls`).
            text.append(f" · {p.undecrypted} not decrypted" if form < 2 else f" ·{p.undecrypted}⊘")
        if p.dns_silent and self.stopped is None and p.listen and p.paused_until is None:
            # Less protection than usual: CNAME lookups fail open, so cloaked trackers pass (`pixelguard doctor`).
            text.append(" · DNS not answering" if form < 2 else " ·DNS✗")
        sep = "  │  " if form == 0 else " │ "
        if self.stopped is None and form < 2 and p.listen:
            text.append(sep)
            text.append(f"listening on {p.listen}" if form == 0 else p.listen)
            if p.workers > 1 and form == 0:
                text.append(f" ({p.workers} workers)")
        text.append(sep)
        share = 100.0 * o.stopped / o.seen if o.seen else 0.0
        if form == 0:
            text.append(f"today {o.seen:,} requests, {o.stopped:,} stopped ({share:.1f}%)")
        else:
            text.append(f"{o.stopped:,} stopped today ({share:.0f}%)")
        return text


class MessageBar(Static):
    """The latest notification, in a line of its own above the footer: a toast would cover the panels.

    Fed by the app (PixelguardApp.on_notify); hidden while there is nothing to say.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._timer: Timer | None = None

    def show(self, message: Text, severity: str, timeout: float) -> None:
        self.update(message)
        self.set_class(severity == "error", "-error")
        self.set_class(severity == "warning", "-warning")
        self.add_class("-shown")
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(timeout, self._clear)

    def _clear(self) -> None:
        self.remove_class("-shown")
        self._timer = None


def _hhmm(when: datetime) -> str:
    return local_hhmm(when)
