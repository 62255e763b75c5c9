"""The header line: protection state, where the proxy listens, and today's numbers."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from pixelguard.tui.data import Overview, local_hhmm


class StatusBar(Static):
    overview: var[Overview | None] = var(None)
    problem: var[str | None] = var(None)

    def watch_overview(self, overview: Overview | None) -> None:
        paused = overview is not None and overview.protection.paused_until is not None
        self.set_class(paused, "-paused")
        self.update(self._render_text())

    def watch_problem(self, problem: str | None) -> None:
        self.set_class(problem is not None, "-problem")
        self.update(self._render_text())

    def _render_text(self) -> Text:
        text = Text()
        text.append(" pixelguard ", style="bold reverse")
        o = self.overview
        if o is None:
            text.append("  loading…")
            return text
        p = o.protection
        text.append("  ")
        if p.paused_until is not None:
            text.append(f"⏸ paused until {_hhmm(p.paused_until)}", style="bold")
        elif p.mode == "hosts-only":
            text.append("● on, hosts-only mode", style="bold")
        else:
            text.append("● protection on", style="bold")
        if p.gpc and p.paused_until is None:
            text.append(" · GPC")  # Sec-GPC: 1 goes out with every request passed upstream
        text.append("  │  ")
        text.append(f"listening on {p.listen}" if p.listen else "proxy not running")
        text.append("  │  ")
        share = 100.0 * o.stopped / o.seen if o.seen else 0.0
        text.append(f"today {o.seen:,} requests, {o.stopped:,} stopped ({share:.1f}%)")
        if self.problem:
            text.append("  │  ")
            text.append(self.problem)
        return text


def _hhmm(when: datetime) -> str:
    return local_hhmm(when)
