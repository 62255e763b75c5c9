"""Tunnels the proxy relayed as raw bytes (proxy/raw_relays.py), as `pixelguard doctor` and `pixelguard check`
report them: read from the history, never from the proxy, so that both answer while it is stopped too."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from pixelguard import display
from pixelguard.config import Config
from pixelguard.errors import PixelguardError

# How far back the reports look: a day of use, long enough to cover the last session at the machine.
WINDOW_S = 86400.0
# Places named in one line; the rest are counted.
NAMED = 5
# How a relayed tunnel is named in the history (its event's URL): tcp://host:port.
SCHEME = "tcp://"


def relay_url(host: str, port: int) -> str:
    """The URL a relayed tunnel is recorded under (an IPv6 address in brackets)."""
    return SCHEME + display.host_port(host, port)


def recent(cfg: Config, host: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
    """Relays of the last WINDOW_S (to ``host`` and its subdomains, when given), most recent first; none when
    there is no history yet or it cannot be read (`doctor`'s database line says why)."""
    from pixelguard.store import db, queries

    since = (time.time() if now is None else now) - WINDOW_S
    try:
        database = db.connect(cfg.database, readonly=True)
    except (PixelguardError, sqlite3.Error):
        return []
    try:
        return queries.raw_relays(database, since, host)
    except sqlite3.Error:
        return []
    finally:
        database.conn.close()


def summary(rows: list[dict[str, Any]]) -> str:
    """'imap.example.com:993 (last at 14:02), [::1]:5222 (last at 09:15) and 3 more': where relays went, escaped
    for a terminal."""
    named = [
        f"{display.safe(r['url'].removeprefix(SCHEME))} (last at {display.clock(r['last'])})"
        for r in rows[:NAMED]
    ]
    more = f" and {len(rows) - NAMED} more" if len(rows) > NAMED else ""
    return ", ".join(named) + more
