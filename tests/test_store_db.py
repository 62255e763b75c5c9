"""Opening the database: migrations (idempotent, concurrent), WAL, read-only opens, refusing foreign files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from pixelguard.store import db as dbmod
from pixelguard.store import schema


def test_connect_creates_migrated_wal_database(tmp_path):
    path = tmp_path / "a" / "pg.db"
    db = dbmod.connect(path)
    assert path.is_file()
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] == dbmod.WRITE_BUSY_MS
    assert {"events", "counters", "_sqlite_migrations"} <= set(db.table_names())
    assert {"idx_events_ts", "idx_events_host_ts"} <= {i.name for i in db["events"].indexes}
    assert db["events"].pks == ["id"] and db["counters"].pks == ["minute"]
    applied = [m.name for m in schema.migrations.applied(db)]
    assert applied == [m.name for m in schema.migrations._migrations]


def test_migrations_are_safe_to_apply_twice(tmp_path):
    path = tmp_path / "pg.db"
    dbmod.connect(path).close()
    db = dbmod.connect(path)
    schema.apply(db)
    n = db.conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
    assert n == len(schema.migrations._migrations)


def test_processes_migrating_a_fresh_file_at_once(tmp_path):
    path = tmp_path / "pg.db"
    code = "import sys; from pixelguard.store import db; db.connect(sys.argv[1]).close(); print('ok')"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1].decode()[-500:] for o in outs]
    db = dbmod.connect(path, readonly=True)
    assert db.conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(
        schema.migrations._migrations
    )


def test_migrations_run_holding_the_write_lock(tmp_path, monkeypatch):
    # So that a second process opening the same fresh file waits, then finds nothing pending, instead of
    # applying and recording the migrations a second time (a CI run once found 5 records for 4 migrations).
    path = tmp_path / "pg.db"
    seen = []
    real_apply = schema.apply

    def apply(db):
        other = sqlite3.connect(path, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            seen.append("another connection could write")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError as e:
            seen.append(str(e))
        finally:
            other.close()
        real_apply(db)

    monkeypatch.setattr(schema, "apply", apply)
    db = dbmod.connect(path)
    assert seen == ["database is locked"]
    assert not db.conn.in_transaction
    assert db.conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(
        schema.migrations._migrations
    )


def test_the_switch_to_wal_waits_for_a_connection_holding_the_fresh_file(tmp_path, monkeypatch):
    # Another process in a write on the not-yet-WAL file: SQLite answers the switch with "database is locked" at
    # once, without calling the busy handler (the race test above met it about once in 60 runs). connect waits
    # for it within its busy budget; here the other side ends its write at connect's first pause.
    path = tmp_path / "pg.db"
    path.touch()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    pauses = []
    real_sleep = dbmod.time.sleep

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if other.in_transaction:
            other.execute("ROLLBACK")
        real_sleep(seconds)

    monkeypatch.setattr(dbmod.time, "sleep", pause)
    db = dbmod.connect(path)
    assert pauses, "the switch should have met the lock"
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    # A lock held for good: connect gives up once its budget is spent, with SQLite's error.
    held = tmp_path / "held.db"
    held.touch()
    holder = sqlite3.connect(held, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        dbmod.connect(held, busy_ms=50)
    holder.close()


def test_readonly_open_does_not_create_or_write(tmp_path):
    path = tmp_path / "pg.db"
    with pytest.raises(dbmod.MissingDatabase, match="does not exist"):
        dbmod.connect(path, readonly=True)
    assert not path.exists()
    path.touch()  # an empty file (a proxy that crashed before migrating)
    with pytest.raises(dbmod.MissingDatabase, match="no events table"):
        dbmod.connect(path, readonly=True)
    dbmod.connect(path).close()
    ro = dbmod.connect(path, readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.conn.execute("DELETE FROM events")


def test_move_aside_keeps_the_file_and_its_wal(tmp_path):
    path = tmp_path / "pg.db"
    path.write_bytes(b"garbage")
    (tmp_path / "pg.db-wal").write_bytes(b"wal")
    first = dbmod.move_aside(path)
    assert first.read_bytes() == b"garbage" and (tmp_path / f"{first.name}-wal").read_bytes() == b"wal"
    assert not path.exists() and not (tmp_path / "pg.db-wal").exists()
    path.write_bytes(b"again")
    second = dbmod.move_aside(path)  # same second: a distinct name, nothing overwritten
    assert second != first and second.read_bytes() == b"again" and first.read_bytes() == b"garbage"
