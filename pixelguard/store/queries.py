"""What the CLI and the UI read from the event database. Each function takes an open Database and returns
plain dicts/tuples, so callers in threads can hand the results to the UI thread as they are."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from pixelguard.engine.request import normal_host
from pixelguard.store.schema import EVENT_COLUMNS

COLUMNS = "id, " + ", ".join(EVENT_COLUMNS)


# Rows the UI and `log --follow` read per poll at most; a longer backlog comes in several polls.
TAIL_BATCH = 500


def _rows(db: Database, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
    return list(db.query(sql, params))


def _event_rows(
    db: Database, sql: str, params: tuple[Any, ...] | list[Any], newest_first: bool
) -> list[dict[str, Any]]:
    """Event rows of ``sql`` (which selects COLUMNS), fetched as one JSON value rather than row by row.

    Why: the sqlite3 module releases the GIL around every row step, and a thread taking it back waits up to the
    interpreter's switch interval (5 ms) while the UI thread renders: a 50-row poll could take a quarter of a
    second. One aggregate value is one step. (Times keep 15 significant digits: 10 microseconds.)
    """
    pairs = ", ".join(f"'{c}', {c}" for c in COLUMNS.split(", "))
    wrapped = f"SELECT json_group_array(json_object({pairs})) FROM ({sql})"
    rows: list[dict[str, Any]] = json.loads(db.conn.execute(wrapped, params).fetchone()[0])
    rows.sort(key=lambda r: r["id"], reverse=newest_first)  # an aggregate's input order is not promised
    return rows


def _host_filter(host: str) -> tuple[str, list[Any]]:
    """The host and its subdomains: 'tracker.com' matches 'px.tracker.com', not 'nottracker.com'."""
    h = normal_host(host.strip())
    # GLOB is case-sensitive and uses the index-free path; escaping its metacharacters keeps it literal.
    escaped = "".join(f"[{c}]" if c in "*?[" else c for c in h)
    return "(host = ? OR host GLOB ?)", [h, f"*.{escaped}"]


def tail(db: Database, after_id: int = 0, limit: int = TAIL_BATCH) -> list[dict[str, Any]]:
    """Rows with id > after_id, oldest first (the UI and `log --follow` poll this with the last id seen)."""
    sql = f"SELECT {COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?"
    return _event_rows(db, sql, (after_id, limit), newest_first=False)


def last_id(db: Database) -> int:
    return db.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def recent(
    db: Database,
    limit: int = 50,
    since_ts: float | None = None,
    host: str | None = None,
    text: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first. ``host`` matches the host and its subdomains; ``text`` is a substring of url/host/site/rule."""
    where: list[str] = []
    params: list[Any] = []
    if since_ts is not None:
        where.append("ts >= ?")
        params.append(since_ts)
    if host:
        clause, p = _host_filter(host)
        where.append(clause)
        params += p
    if text:
        where.append("(instr(url, ?) OR instr(host, ?) OR instr(site, ?) OR instr(coalesce(rule, ''), ?))")
        params += [text] * 4
    sql = f"SELECT {COLUMNS} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    return _event_rows(db, sql, [*params, limit], newest_first=True)


def top_trackers(db: Database, since_ts: float, limit: int = 10) -> list[dict[str, Any]]:
    """Hosts stopped most often since since_ts: host, count, and the number of distinct sites they were on.
    (Not the hosts passed through: nothing was stopped there.)"""
    return _rows(
        db,
        "SELECT host, count(*) AS count, count(DISTINCT nullif(site, '')) AS sites FROM events "
        "WHERE ts >= ? AND action != 'passthrough' GROUP BY host ORDER BY count DESC, host LIMIT ?",
        (since_ts, limit),
    )


def top_sites(db: Database, since_ts: float, limit: int = 10) -> list[dict[str, Any]]:
    """Sites (first parties) on which most was stopped: site, count, distinct tracker hosts."""
    return _rows(
        db,
        "SELECT site, count(*) AS count, count(DISTINCT host) AS trackers FROM events "
        "WHERE ts >= ? AND site != '' GROUP BY site ORDER BY count DESC, site LIMIT ?",
        (since_ts, limit),
    )


def undecided(db: Database, since_ts: float, reason: str) -> list[dict[str, Any]]:
    """What passed without being read whole since since_ts, by where it went: tunnels relayed as raw bytes
    (NOT_HTTP, proxy/raw_relays.py; url tcp://host:port) or request bodies read in part (UNREAD_BODY; url
    https://host/). Each row: url, host, count (events: at most one per client and place an hour) and last (ts).
    Most recent first."""
    return _rows(
        db,
        "SELECT url, host, count(*) AS count, max(ts) AS last FROM events WHERE ts >= ? AND reason = ? "
        "GROUP BY url ORDER BY last DESC",
        (since_ts, reason),
    )


def stops_per_minute(db: Database, since_ts: float) -> list[tuple[int, int]]:
    """(minute as epoch seconds, requests stopped) for minutes since since_ts that saw traffic, oldest first."""
    minute = int(since_ts // 60)
    rows = db.conn.execute(
        "SELECT minute, stopped FROM counters WHERE minute >= ? ORDER BY minute", (minute,)
    ).fetchall()
    return [(m * 60, s) for m, s in rows]


def totals(db: Database, since_ts: float) -> dict[str, int]:
    """Requests seen and stopped since since_ts (minute resolution), from the counters."""
    seen, stopped = db.conn.execute(
        "SELECT coalesce(sum(seen), 0), coalesce(sum(stopped), 0) FROM counters WHERE minute >= ?",
        (int(since_ts // 60),),
    ).fetchone()
    return {"seen": seen, "stopped": stopped}


def host_span(db: Database, host: str) -> tuple[float, float] | None:
    """(first, last) time this exact host was stopped, or None if never."""
    first, last = db.conn.execute("SELECT min(ts), max(ts) FROM events WHERE host = ?", (host,)).fetchone()
    return None if first is None else (first, last)


def _group(db: Database, column: str, since_ts: float) -> list[dict[str, Any]]:
    return _rows(
        db,
        f"SELECT coalesce({column}, '') AS {column}, count(*) AS count FROM events "
        f"WHERE ts >= ? GROUP BY 1 ORDER BY count DESC, 1",
        (since_ts,),
    )


def stats(db: Database, since_ts: float, limit: int = 10) -> dict[str, Any]:
    """Everything `pixelguard stats` shows: totals and share stopped, top trackers and sites, by reason and list.

    ``events`` counts the rows recorded (stopped or altered requests); ``seen``/``stopped`` come from the
    per-minute counters of all traffic, so ``share`` is stopped / seen.
    """
    t = totals(db, since_ts)
    events, saved = db.conn.execute(
        "SELECT count(*), coalesce(sum(bytes), 0) FROM events WHERE ts >= ?", (since_ts,)
    ).fetchone()
    return {
        "since": since_ts,
        "seen": t["seen"],
        "stopped": t["stopped"],
        "share": round(t["stopped"] / t["seen"], 4) if t["seen"] else 0.0,
        "events": events,
        "bytes": saved,
        "top_trackers": top_trackers(db, since_ts, limit),
        "top_sites": top_sites(db, since_ts, limit),
        "by_reason": _group(db, "reason", since_ts),
        "by_list": _group(db, "list", since_ts),
        "by_vendor": by_vendor(db, since_ts, limit),
    }


def by_vendor(db: Database, since_ts: float, limit: int = 10) -> list[dict[str, Any]]:
    """Stopped events by the vendor and event name their payload names (Meta Pixel / Purchase ...)."""
    return _rows(
        db,
        "SELECT json_extract(payload, '$.vendor') AS vendor, "
        "coalesce(json_extract(payload, '$.event'), '-') AS event, count(*) AS count "
        "FROM events WHERE ts >= ? AND json_valid(payload) AND json_extract(payload, '$.vendor') IS NOT NULL "
        "GROUP BY vendor, event ORDER BY count DESC LIMIT ?",
        (since_ts, limit),
    )


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    """A row for --json: every column plus the time as ISO 8601 UTC."""
    iso = datetime.fromtimestamp(row["ts"], UTC).isoformat(timespec="milliseconds")
    return {"time": iso, **row, "payload": payload_of(row)}


def payload_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """The decoded payload of an event row (stored as JSON text), or None."""
    raw = row.get("payload")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
