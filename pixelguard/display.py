"""Text for people: what came from the network made safe for a terminal, and times and sizes as people say them.

Hosts, URLs, page titles and list lines come from websites and mail senders. Printed raw, an ESC sequence in a
URL could clear the screen, retitle the terminal or rewrite what the user reads, and a carriage return could
overwrite an entry with a forged one. ``safe`` shows every control character as an escape instead (the
database keeps the original). Library modules return data; the CLI and the UI render it through here.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

# C0 and C1 controls, DEL, line/paragraph separators and the bidi overrides that reorder what a line shows.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def safe(text: object) -> str:
    """``text`` with every control or direction-changing character shown as ``\\xNN``/``\\uNNNN``."""
    s = "" if text is None else str(text)
    return _UNSAFE.sub(_escape, s)


def safe_json(dumped: str) -> str:
    """JSON text with the characters JSON leaves raw (DEL, C1 controls, separators, bidi) as ``\\u`` escapes;
    the value it encodes is unchanged."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def cut(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters, the last one an ellipsis when something was cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def seconds(n: float) -> str:
    """A span as people say it: 45s, 12m, 5h, 3d."""
    n = max(0, int(n))
    if n < 120:
        return f"{n}s"
    if n < 7200:
        return f"{n // 60}m"
    if n < 2 * 86400:
        return f"{n // 3600}h"
    return f"{n // 86400}d"


def period(total_seconds: float) -> str:
    """A period as typed on the command line: 24h, 90m, 2d (the largest unit that divides it)."""
    secs = int(total_seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0 and secs >= 2 * size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def age(ts: float | None, now: float | None = None) -> str:
    """'3h', '2d', or '-' for never."""
    if ts is None:
        return "-"
    return seconds((time.time() if now is None else now) - ts)


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def clock(ts: float | None) -> str:
    """Local time of day, or '-'."""
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "-"


def host_port(host: str, port: int) -> str:
    """host:port as addresses are written, an IPv6 address in brackets ("[::1]:8080")."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def when(ts: float | None) -> str:
    """Local date and time to the minute, or 'never'."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "never"


def moment(dt: datetime) -> str:
    """A point in time as a person reads it: local weekday, date, time and zone ("Thu 2026-12-03 09:30 CET")."""
    return dt.astimezone().strftime("%a %Y-%m-%d %H:%M %Z")
