"""Why the selected request was stopped: URL, rule, list and line (or pixel size), when, and who."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from pixelguard.display import safe, when
from pixelguard.entities import lookup
from pixelguard.store.queries import payload_of


class DetailPane(Static):
    """Shows one event; every value from the wire is a Text (so "[bold]" in a URL stays literal) of safe text
    (so an escape sequence in a URL is shown, not sent to the terminal)."""

    # Shown while no row is selected, when the screen gives one (what to do first); else "No request selected."
    first_steps: Text | None = None

    def show(self, row: dict[str, Any] | None, span: tuple[float, float] | None = None) -> None:
        if row is None:
            self.update(self.first_steps or Text("No request selected.", style="dim"))
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("URL", Text(safe(f"{row.get('method') or 'GET'} {row.get('url') or ''}")))
        reason = row.get("reason") or ""
        if reason == "pixel" or (row.get("detail") and not row.get("rule")):
            grid.add_row("Pixel", Text(safe(row.get("detail") or "tiny image"), style="yellow"))
        if row.get("rule"):
            grid.add_row("Rule", Text(safe(row["rule"]), style="magenta"))
        where = row.get("list") or "-"
        if row.get("line"):
            where += f", line {row['line']}"
        grid.add_row("List", Text(safe(f"{where}   ({reason}, {row.get('action') or 'blocked'})")))
        seen = "…" if span is None else f"{when(span[0])} → {when(span[1])}"
        grid.add_row("Seen", Text(safe(f"{seen}   on {row.get('site') or 'unknown site'}")))
        said = payload_sentence(payload_of(row))
        if said:
            grid.add_row("Payload", Text(safe(said), style="cyan"))
        entity = lookup(row.get("host") or "")
        grid.add_row("Owner", Text(f"{entity.company} ({entity.category})" if entity else "unknown"))
        self.update(grid)


def payload_sentence(payload: dict[str, Any] | None) -> str | None:
    """'Meta Pixel would have recorded: Purchase, value 49.99 EUR; identifiers: your email (sha256), browser ID fbp'."""
    if not payload:
        return None
    fields = payload.get("fields") or {}
    what = [str(payload["event"])] if payload.get("event") else []
    if fields.get("value"):
        what.append(f"value {fields['value']} {fields.get('currency', '')}".rstrip())
    what += [f"{k} {v}" for k, v in fields.items() if k not in ("value", "currency", "page")][:4]
    who = payload.get("vendor") or "The tracker"
    text = f"{who} would have recorded: {', '.join(what) or 'this request'}"
    ids = payload.get("identifiers") or []
    if ids:
        text += "; identifiers: " + ", ".join(map(str, ids))
    return text
