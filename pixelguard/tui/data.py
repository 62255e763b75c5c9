"""What the UI reads, as plain Python with no Textual in it: runs in the UI's database thread only.

One ``Feed`` owns one read-only SQLite connection (connections are per thread) and turns the store's queries
into the small records the screens show. Nothing here is called from the event loop.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pixelguard import running
from pixelguard.config import Config
from pixelguard.errors import PixelguardError
from pixelguard.store.event import UNREAD_BODY
from pixelguard.store.queries import TAIL_BATCH

log = logging.getLogger(__name__)

CAP = 1000  # rows kept in the live table; older ones scroll away (`pixelguard log` has them all)
SPARK_MINUTES = 60


@dataclass(frozen=True)
class Protection:
    """What the header says about protection."""

    mode: str  # "full" | "hosts-only"
    paused_until: datetime | None  # aware UTC
    listen: str | None  # "127.0.0.1:8080", None when no proxy is running
    gpc: bool = False  # Global Privacy Control sent on passed requests (config privacy.gpc)
    undecrypted: int = 0  # hosts learned as passed through undecrypted (only whole-host rules reach them)
    workers: int = 1  # processes serving the address (`pixelguard run --workers`)
    dns_silent: bool = False  # the proxy's CNAME lookups get no answer (cloaked trackers pass)


@dataclass(frozen=True)
class Overview:
    seen: int
    stopped: int
    top: list[dict[str, Any]]  # {"host","count","sites"}
    per_minute: list[int]  # SPARK_MINUTES counts, oldest first, ending with the current minute
    protection: Protection
    problem: str | None = None  # why the numbers are missing (no database yet...)


@dataclass
class Feed:
    """Reads for the UI. ``clock`` is injectable so snapshot tests see a fixed "now"."""

    cfg: Config
    clock: Callable[[], float] = time.time
    listen: str | None = None  # given when proxy and UI share a process
    last_id: int = 0
    _db: Any = field(default=None, repr=False)
    _data_version: int | None = field(default=None, repr=False)
    _caught_up: bool = field(default=False, repr=False)

    # -- connection ------------------------------------------------------------------------------------

    def db(self) -> Any:
        """The read-only connection, opened on first use; raises MissingDatabase before the proxy ever ran."""
        if self._db is None:
            from pixelguard.store.db import connect

            self._db = connect(self.cfg.database, readonly=True)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            from pixelguard.store.db import close_quietly

            close_quietly(self._db)
            self._db = None
            self._data_version = None

    # -- events ----------------------------------------------------------------------------------------

    def reload(self, text: str = "") -> list[dict[str, Any]]:
        """The newest CAP events (matching ``text`` if given), newest first; later polls continue after them."""
        from pixelguard.store import queries

        rows = queries.recent(self.db(), limit=CAP, text=text or None)
        # Polling carries on from the newest event already shown; the client filters what it gets.
        self.last_id = max([self.last_id] + [r["id"] for r in rows])
        return rows

    def poll(self) -> list[dict[str, Any]]:
        """Events written since the last call, oldest first (at most TAIL_BATCH)."""
        from pixelguard.store import queries

        db = self.db()
        # PRAGMA data_version changes when another connection commits: a one-step check that lets the UI look
        # often (for low latency) while reading rows only when there is something new.
        version = db.conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version and self._caught_up:
            return []
        self._data_version = version
        rows = queries.tail(db, after_id=self.last_id, limit=TAIL_BATCH)
        self._caught_up = len(rows) < TAIL_BATCH
        if rows:
            self.last_id = rows[-1]["id"]
        return rows

    def host_span(self, host: str) -> tuple[float, float] | None:
        from pixelguard.store import queries

        return queries.host_span(self.db(), host)

    # -- overview --------------------------------------------------------------------------------------

    def overview(self) -> Overview:
        protection = self.protection()
        try:
            from pixelguard.store import queries

            db = self.db()
            now = self.clock()
            today = start_of_day(now)
            totals = queries.totals(db, today)
            top = queries.top_trackers(db, today, limit=10)
            minute_now = int(now // 60) * 60
            first = minute_now - (SPARK_MINUTES - 1) * 60
            counts = dict(queries.stops_per_minute(db, first))
            per_minute = [int(counts.get(first + 60 * i, 0)) for i in range(SPARK_MINUTES)]
            return Overview(int(totals["seen"]), int(totals["stopped"]), top, per_minute, protection)
        except (FileNotFoundError, sqlite3.Error, PixelguardError) as e:
            return Overview(0, 0, [], [0] * SPARK_MINUTES, protection, problem=str(e))

    def protection(self) -> Protection:
        mode = self.cfg.proxy.mode
        listen = self.listen
        info = running.read(self.cfg.data_dir)
        workers = 1
        started = 0.0
        if info is not None:
            started = info.started
            listen = listen or info.listen
            mode = info.mode
            workers = info.workers
        paused = None
        try:
            from pixelguard import pause

            paused = pause.paused_until(self.cfg.data_dir, now=datetime.fromtimestamp(self.clock(), UTC))
        except Exception as e:  # a broken pause.json must not take the header down
            log.warning("cannot read the pause state: %s", e)
        from pixelguard import dns_health, tls_policy

        learned = len(tls_policy.learned_pairs(self.cfg.data_dir))
        dns_silent = listen is not None and dns_health.silent_since(self.cfg.data_dir, started) is not None
        return Protection(
            mode=mode,
            paused_until=paused,
            listen=listen,
            gpc=self.cfg.privacy.gpc,
            undecrypted=learned,
            workers=workers,
            dns_silent=dns_silent,
        )


def start_of_day(ts: float) -> float:
    """Local midnight before ``ts`` ("today" as the person at the terminal means it)."""
    t = time.localtime(ts)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


class LearnedWatcher:
    """Notices rules the proxy learns (the learned list grows) so that the UI can say so, with an undo key.

    The rules there at the start are not news; a rule removed and learned again is."""

    def __init__(self, path: Path):
        from pixelguard.fileio import stat_signature

        self.path = path
        self._sig = stat_signature(path)
        self._known = set(self._read())

    def _read(self) -> list[tuple[str, str]]:
        from pixelguard import lists

        try:
            return lists.learned_rules(self.path)
        except (OSError, UnicodeDecodeError):
            return []

    def poll(self) -> list[tuple[str, str]]:
        """(host, rule) of each rule learned since the last poll (reads the file only when it changed)."""
        from pixelguard.fileio import stat_signature

        sig = stat_signature(self.path)
        if sig == self._sig:
            return []
        self._sig = sig
        now = self._read()
        new = [r for r in now if r not in self._known]
        self._known = set(now)
        return new


# -- lists ---------------------------------------------------------------------------------------------


def list_rows(cfg: Config) -> list[dict[str, Any]]:
    """Every list with rules, skipped, updated, enabled: from update.list_status when present, else counted."""
    try:
        from pixelguard.update import list_status

        return [dict(r) for r in list_status(cfg)]
    except Exception as e:  # counts are informative only: a failing engine build must not empty the screen
        log.warning("list status failed, counting lines instead: %s", e)
    rows = [
        _count(
            spec.name, spec.url or ("bundled" if spec.bundled else str(spec.file)), spec.enabled, spec.file
        )
        for spec in cfg.lists
    ]
    rows.append(_count("user", str(cfg.user_list), True, cfg.user_list))
    rows.append(_count("learned", str(cfg.learned_list), True, cfg.learned_list))
    return rows


@dataclass(frozen=True)
class Passthrough:
    """What the lists screen says about connections pixelguard does not decrypt (see tls_policy)."""

    bundled: int  # sensitive sites in the shipped list
    configured: tuple[str, ...]  # tls.passthrough
    learn: bool  # tls.learn
    learned: list[tuple[str, str]]  # (client, host) whose client refused pixelguard's certificate
    relayed: list[dict[str, Any]]  # tunnels relayed as raw bytes in the last day (relays.recent)
    unread: list[dict[str, Any]]  # request bodies read in part in the last day (relays.recent, UNREAD_BODY)


def passthrough(cfg: Config) -> Passthrough:
    from pixelguard import relays, tls_policy

    return Passthrough(
        bundled=len(tls_policy.bundled()),
        configured=tuple(cfg.tls.passthrough),
        learn=cfg.tls.learn,
        learned=tls_policy.learned_pairs(cfg.data_dir),
        relayed=relays.recent(cfg),
        unread=relays.recent(cfg, reason=UNREAD_BODY),
    )


def _count(name: str, source: str, enabled: bool, path: Path) -> dict[str, Any]:
    from pixelguard.engine.rules import validate

    rules: int | None = None
    skipped: int | None = None
    updated = None
    try:
        updated = None if source == "bundled" else path.stat().st_mtime  # bundled: as old as the installation
        good = bad = 0
        with path.open(encoding="utf-8", errors="replace") as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith("!") or line.startswith("["):
                    continue
                if validate(line) is None:
                    good += 1
                else:
                    bad += 1
        rules, skipped = good, bad
    except OSError:
        pass  # no file (yet): no counts
    return {
        "name": name,
        "source": source,
        "enabled": enabled,
        "rules": rules,
        "skipped": skipped,
        "updated_ts": updated,
        "path": str(path),
    }


def fmt_path(path: str | Path) -> str:
    """A path as a person would type it: the home directory shown as ~."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


def local_hhmm(when: datetime) -> str:
    return when.astimezone().strftime("%H:%M") if when.tzinfo else when.replace(tzinfo=UTC).strftime("%H:%M")
