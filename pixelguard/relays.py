"""What the proxy let through without reading all of it, as `pixelguard doctor`, `pixelguard check` and the UI
report it: tunnels relayed as raw bytes (proxy/raw_relays.py) and request bodies read in part (a body over
limits.BODY_HOLD streams, and its middle goes to the server unread: proxy/decider.py). Read from the history,
never from the proxy, so that they answer while it is stopped too."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from pixelguard import display
from pixelguard.config import Config
from pixelguard.errors import PixelguardError
from pixelguard.limits import BODY_HOLD, BODY_TAIL
from pixelguard.store.event import NOT_HTTP

# How far back the reports look: a day of use, long enough to cover the last session at the machine.
WINDOW_S = 86400.0
# Places named in one line; the rest are counted.
NAMED = 5
# How a relayed tunnel is named in the history (its event's URL): tcp://host:port.
SCHEME = "tcp://"


def _place(url: str) -> str:
    """tcp://host:port as host:port, https://host/ as host."""
    return url.removeprefix(SCHEME).removeprefix("https://").removeprefix("http://").removesuffix("/")


def relay_url(host: str, port: int) -> str:
    """The URL a relayed tunnel is recorded under (an IPv6 address in brackets)."""
    return SCHEME + display.host_port(host, port)


def unread_note(size: int, unread: int, encoded: bool) -> str:
    """What of a request body the proxy does not read (bodies.StreamedBody.unread), as `check` and the event's detail
    say it."""
    if encoded:
        return (f"a compressed body of {display.size(size)}: the proxy reads what its first {display.size(BODY_HOLD)} "
                f"inflate to, not the {display.size(unread)} after them")  # fmt: skip
    return (f"a body of {display.size(size)}: the proxy reads its first {display.size(BODY_HOLD)} and its last "
            f"{display.size(BODY_TAIL)}, not the {display.size(unread)} between")  # fmt: skip


def unread_summary(rows: list[dict[str, Any]]) -> str:
    """Where request bodies read in part went (rows of ``recent(..., reason=UNREAD_BODY)``), and why, escaped."""
    return (f"request bodies to {summary(rows)} were read in part: over {display.size(BODY_HOLD)}, a body streams, "
            f"and the proxy reads its first {display.size(BODY_HOLD)} and its last {display.size(BODY_TAIL)}")  # fmt: skip


def recent(cfg: Config, reason: str = NOT_HTTP) -> list[dict[str, Any]]:
    """Events of ``reason`` (relays; UNREAD_BODY: bodies read in part) of the last WINDOW_S, by where they went,
    most recent first; none when there is no history yet or it cannot be read (`doctor`'s database line says
    why)."""
    from pixelguard.store import db, queries

    try:
        database = db.connect(cfg.database, readonly=True)
    except (PixelguardError, sqlite3.Error):
        return []
    try:
        return queries.undecided(database, time.time() - WINDOW_S, reason)
    except sqlite3.Error:
        return []
    finally:
        database.conn.close()


def summary(rows: list[dict[str, Any]]) -> str:
    """'imap.example.com:993 (last at 14:02), [::1]:5222 (last at 09:15) and 3 more': where relays (or bodies read
    in part: 'drive.example (last at 14:02)') went, escaped for a terminal."""
    named = [f"{display.safe(_place(r['url']))} (last at {display.clock(r['last'])})" for r in rows[:NAMED]]
    more = f" and {len(rows) - NAMED} more" if len(rows) > NAMED else ""
    return ", ".join(named) + more
