"""The database schema as numbered migrations (sqlite-utils' Migrations: each applied once, recorded in
``_sqlite_migrations``, so applying the set twice is a no-op).

Never edit a migration that has shipped: add the next one. Times are REAL seconds since the epoch (UTC), which
is what the proxy has in hand and what range queries want; ``events_readable`` shows them as text for people
browsing with Datasette or ``sqlite-utils rows``.
"""

from __future__ import annotations

from dataclasses import fields

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from pixelguard.store.event import Event

MIGRATION_SET = "pixelguard"
migrations = Migrations(MIGRATION_SET)

# The events table's columns are the Event record's fields (one list, in store/event.py).
EVENT_COLUMNS = tuple(f.name for f in fields(Event))


@migrations()
def m001_events(db: Database) -> None:
    # id is the rowid: the UI's "rows after id N" tail is a primary-key range scan, no extra index needed.
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            client TEXT,
            method TEXT,
            url TEXT,
            host TEXT,
            site TEXT,
            type TEXT,
            reason TEXT,
            action TEXT,
            rule TEXT,
            list TEXT,
            line INTEGER,
            bytes INTEGER,
            detail TEXT
        )
        """
    )
    # Time ranges (stats, retention) and "everything about this host" (log --host, the UI's host view).
    db.execute("CREATE INDEX IF NOT EXISTS idx_events_ts ON events (ts)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_events_host_ts ON events (host, ts)")


@migrations()
def m002_counters(db: Database) -> None:
    # One row per minute for every request seen, so the share stopped needs no row per allowed request.
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS counters (
            minute INTEGER PRIMARY KEY,
            seen INTEGER NOT NULL DEFAULT 0,
            stopped INTEGER NOT NULL DEFAULT 0
        )
        """
    )


@migrations()
def m003_readable_views(db: Database) -> None:
    db.execute(
        """
        CREATE VIEW IF NOT EXISTS events_readable AS
        SELECT id, datetime(ts, 'unixepoch') AS time_utc, client, method, url, host, site, type, reason,
               action, rule, list, line, bytes, detail
        FROM events
        """
    )
    db.execute(
        """
        CREATE VIEW IF NOT EXISTS counters_readable AS
        SELECT datetime(minute * 60, 'unixepoch') AS minute_utc, seen, stopped FROM counters
        """
    )


@migrations()
def m004_payload(db: Database) -> None:
    # What a stopped request would have told the tracker (payloads/), as JSON; never the body itself.
    if "payload" not in {c.name for c in db["events"].columns}:
        db.execute("ALTER TABLE events ADD COLUMN payload TEXT")
    db.execute("DROP VIEW IF EXISTS events_readable")
    db.execute(
        """
        CREATE VIEW events_readable AS
        SELECT id, datetime(ts, 'unixepoch') AS time_utc, client, method, url, host, site, type, reason,
               action, rule, list, line, bytes, detail, payload
        FROM events
        """
    )


def apply(db: Database) -> None:
    """Bring the schema up to date. Safe to call on every open and from several processes at once."""
    migrations.apply(db)


def is_current(db: Database) -> bool:
    return not migrations.pending(db)
