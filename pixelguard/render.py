"""What the CLI prints: plain text (never markup: output goes to pipes and logs too), every value that came from
the network passed through ``display.safe`` so that no URL, host or subject can drive the terminal."""

from __future__ import annotations

from typing import Any

from pixelguard import display
from pixelguard.display import cut, safe
from pixelguard.invocation import cmd

LOG_HEADER = ("TIME", "HOST", "SITE", "TYPE", "REASON", "LIST:LINE")
_WIDTHS = (8, 36, 24, 14, 8)


def event_line(row: dict[str, Any]) -> str:
    """One line of `pixelguard log`: local time, host, site, type, reason, list:line."""
    where = f"{row['list']}:{row['line']}" if row.get("list") and row.get("line") else (row.get("list") or "")
    cells = (
        display.clock(row["ts"]),
        safe(row["host"] or ""),
        safe(row["site"] or "-"),
        row["type"] or "",
        row["reason"] or "",
    )
    return "  ".join(cut(c, w).ljust(w) for c, w in zip(cells, _WIDTHS, strict=True)) + "  " + safe(where)


def log_header() -> str:
    return "  ".join(h.ljust(w) for h, w in zip(LOG_HEADER, _WIDTHS, strict=False)) + "  " + LOG_HEADER[-1]


def stats_lines(s: dict[str, Any], period: str) -> list[str]:
    """`pixelguard stats`: totals, then top trackers, top sites, and counts by reason and by list."""
    seen, stopped = s["seen"], s["stopped"]
    share = f"{100 * s['share']:.1f}%" if seen else "n/a"
    out = [
        f"last {period}: {seen:,} requests seen, {stopped:,} stopped ({share}), "
        f"{s['events']:,} events recorded, {s['bytes']:,} bytes never sent or replaced",
        # Said once, because the numbers differ for reasons a first look cannot know (issue 28).
        "  stopped: blocked, or a pixel replaced on its way back",
        "  events: the stopped ones; events also hold requests that went to their site changed",
        "    (tracking parameters cleaned, a link unwrapped, identifiers removed)",
        "  bytes never sent or replaced: the bodies of stopped requests that never left, and the pixels replaced",
    ]

    def table(title: str, rows: list[dict[str, Any]], cols: tuple[str, ...]) -> None:
        out.append("")
        out.append(title)
        if not rows:
            out.append("  (none)")
            return
        firsts = [safe(r[cols[0]]) or "-" for r in rows]
        width = min(48, max(len(f) for f in firsts))
        out.append("  " + cols[0].ljust(width) + "".join(f"  {c:>8}" for c in cols[1:]))
        for first, r in zip(firsts, rows, strict=True):
            out.append("  " + cut(first, width).ljust(width) + "".join(f"  {r[c]:>8,}" for c in cols[1:]))

    table("top trackers", s["top_trackers"], ("host", "count", "sites"))
    table("top sites", s["top_sites"], ("site", "count", "trackers"))
    table("by reason", s["by_reason"], ("reason", "count"))
    table("by list", s["by_list"], ("list", "count"))
    vendors = [
        {"tracker event": f"{r['vendor']}: {r['event']}", "count": r["count"]} for r in s.get("by_vendor", [])
    ]
    table("what the trackers would have recorded", vendors, ("tracker event", "count"))
    return out


def lists_table(rows: list[dict[str, Any]], now: float | None = None) -> list[str]:
    """The ``pixelguard lists`` table."""
    table = [("NAME", "ON", "RULES", "SKIPPED", "AGE", "SOURCE")]
    for r in rows:
        rules = "-" if r["rules"] is None else str(r["rules"])
        skipped = "-" if r["skipped"] is None else str(r["skipped"])
        when = display.age(r["updated_ts"], now) if r["exists"] else "missing"
        if r.get("due") and r["exists"]:
            when += " (due)"
        source = r["source"] + (f" (+{r['included_files']} included)" if r.get("included_files") else "")
        table.append((safe(r["name"]), "yes" if r["enabled"] else "no", rules, skipped, when, safe(source)))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    out = []
    for row in table:
        cells = [
            c.ljust(w) if i in (0, 1, 4) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row[:5], widths, strict=True))
        ]
        out.append("  ".join(cells) + "  " + row[5])
    return out


class ProgressBar:
    """A one-line progress bar on a terminal stream (stderr); the caller prints the outcome over it."""

    def __init__(self, name: str, stream: Any, width: int = 30):
        self.name, self.stream, self.width = safe(name), stream, width

    def __call__(self, done: int, total: int | None) -> None:
        if total:
            filled = min(self.width, done * self.width // total)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"\r{self.name}  [{bar}] {display.size(done)} / {display.size(total)}"
        else:
            text = f"\r{self.name}  {display.size(done)}"
        self.stream.write(text)
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()


URL_WIDTH = 100


def scan_report(rep: Any, *, all_images: bool = True) -> list[str]:
    """Lines for ``pixelguard scan``: a header, one line per image with its verdict, a summary line."""
    where = rep.file + (f" #{rep.index + 1}" if rep.index else "")
    head = f"{safe(where)}: {safe(rep.subject) or '(no subject)'}"
    if rep.sender:
        head += f" — from {safe(rep.sender)}"
    lines = [head]
    for problem in rep.problems:
        lines.append(f"  ! {safe(problem)}")
    for img in [*rep.images, *rep.other]:  # images, then the other loads (never pixel-like)
        url = cut(safe(img.url), URL_WIDTH)
        if img.blocked:
            lines.append(f"  BLOCKED  {img.where:<10} {url}")
            lines.append(f"           by {safe(img.rule)} ({safe(img.list)}:{img.line})")
        elif img.pixel:
            lines.append(f"  PIXEL?   {img.where:<10} {url}  ({safe(img.pixel)})")
        elif all_images:
            lines.append(f"  -        {img.where:<10} {url}")
    for link in rep.links:
        if link.destination:
            lines.append(f"  LINK     {'tracked':<10} {cut(safe(link.url), URL_WIDTH)}")
            lines.append(f"           goes to {cut(safe(link.destination), URL_WIDTH)}")
        else:
            lines.append(f"  LINK     {'opaque':<10} {cut(safe(link.url), URL_WIDTH)}  ({safe(link.vendor)})")
    n = len(rep.images)
    lines.append(
        f"  {n} remote image{'' if n == 1 else 's'}: {rep.blocked} blocked, {rep.pixel_like} more look like pixels"
    )
    if rep.other:
        k = len(rep.other)
        lines.append(
            f"  {k} other remote load{'' if k == 1 else 's'} (stylesheets, fonts, media, links): {rep.other_blocked} blocked"
        )
    if rep.links:
        opaque = sum(1 for link in rep.links if not link.destination)
        k = len(rep.links)
        lines.append(
            f"  {k} tracked link{'' if k == 1 else 's'}: {k - opaque} with the destination in it (mail clean "
            f"unwraps them), {opaque} opaque (opening one tells the sender)"
        )
    return lines


def check_lines(
    url: str, d: Any, rule_count: int, chain: tuple[str, ...] = (), read_as: str | None = None
) -> list[str]:
    """`pixelguard check`: what the proxy would do with the request, and every reason, with list:line.
    ``read_as``: the URL as the lists saw it, when spelt otherwise (checking.Result.read_as)."""
    from pixelguard.decision.decision import Action

    def where(r: Any) -> str:
        if r.list and r.line:
            return f" ({safe(r.list)}:{r.line})"
        return f" ({safe(r.list)})" if r.list else ""

    head = {
        Action.BLOCKED: "BLOCKED",
        Action.CLEANED: "cleaned",
        Action.REDACTED: "redacted",
        Action.UNWRAPPED: "unwrapped",
        Action.PASSTHROUGH: "passthrough",
        Action.PASSED: "allowed",
    }[d.action]
    out = [f"{head}  {safe(url)}"]
    if read_as is not None and read_as not in (url, url + "/"):  # not for the "/" a bare host is sent with
        out.append(f"  read as: {safe(read_as)} (as a browser sends it: the lists see this spelling)")
    if chain:
        out.append(f"  CNAME chain: {safe(' -> '.join(chain))}")
    for r in d.reasons:
        if r.stage == "paused":
            out.append(
                f"  protection is paused {safe(r.detail)}: the proxy passes every request (`{cmd('resume')}`)"
            )
        elif r.stage == "allowed":
            out.append(f"  exception: {safe(r.rule)}{where(r)}")
            if r.detail:
                out.append(f"  overrides: {safe(r.detail)}")
        elif r.stage == "tls":
            out.append(f"  not decrypted: {safe(r.detail)}; only whole-host rules apply to it")
        elif r.stage == "param":
            out.append(f"  {safe(r.detail)} by {safe(r.rule)}{where(r)}")
        else:
            label = {"filter": "rule", "learned": "learned rule", "host": "whole-host rule", "cname": "rule (CNAME)",
                     "leak": "leak alarm", "schema": "schema"}.get(r.stage, r.stage)  # fmt: skip
            text = safe(r.rule) if r.stage != "leak" else safe(r.detail)
            out.append(f"  {label}: {text}{where(r) if r.stage != 'leak' else ''}")
            if r.detail and r.stage not in ("leak",):
                out.append(f"    {safe(r.detail)}")
    if d.url:
        out.append(f"  {'answered with a 307 to' if d.redirect else 'goes upstream as'}: {safe(d.url)}")
    if d.action is Action.PASSED and not d.reasons:
        out.append(f"  no rule matches ({rule_count:,} rules loaded)")
    return out
