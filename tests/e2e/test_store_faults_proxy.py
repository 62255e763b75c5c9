"""The event log's faults seen from the real proxy: it keeps answering while the database is locked by another
process or deleted, every accepted event lands once the database is writable again, and a corrupt database at
start is refused in one line and left untouched. (Writer-level faults, read-only and full disk included, are in
tests/test_store_faults.py.)"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from harness import PIXELGUARD, Origin, Proxy, free_port, wait_for

from pixelguard.proxy.responses import TRANSPARENT_GIF

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

LIST = "||fault.tracker.test^\n/faulttrack/*\n"

# Holds an exclusive lock on the database for the given seconds, in a process of its own (as another program
# would), and says when it has the lock.
LOCKER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
print("released", flush=True)
"""


def blocked_urls(origin: Origin, tag: str, n: int) -> list[str]:
    return [origin.url(f"/faulttrack/{tag}-{i}.gif") for i in range(n)]


def fetch_all(proxy: Proxy, urls: list[str]) -> None:
    for url in urls:
        r = proxy.get(url, headers={"Accept": "image/*"}, timeout=5)
        assert r.status == 200 and r.body == TRANSPARENT_GIF, (url, r.status)


def logged(proxy: Proxy, urls: list[str]) -> bool:
    have = {e["url"] for e in proxy.events()}
    return all(u in have for u in urls)


def test_proxy_serves_while_database_is_locked_and_keeps_every_event(
    make_proxy: Callable[..., Proxy], origin: Origin
) -> None:
    proxy = make_proxy({"faults": LIST})
    before = blocked_urls(origin, "before", 3)
    fetch_all(proxy, before)
    wait_for(lambda: logged(proxy, before), what="the first events in the database")

    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(proxy.database), "5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        during = blocked_urls(origin, "during", 40)
        fetch_all(proxy, during)  # answered while the lock is held: the proxy never waits for the log
        assert locker.poll() is None, (
            "the lock was released before the requests were done; test proves nothing"
        )
    finally:
        locker.wait(timeout=20)
    wait_for(lambda: logged(proxy, during), timeout=15, what="events accepted during the lock")
    assert origin.hits.get("/faulttrack/during-0.gif", 0) == 0


def test_proxy_serves_when_database_is_deleted_and_recreates_it(
    make_proxy: Callable[..., Proxy], origin: Origin
) -> None:
    proxy = make_proxy({"faults": LIST})
    fetch_all(proxy, blocked_urls(origin, "first", 2))
    wait_for(lambda: proxy.database.exists() and proxy.events(), what="the database to exist")
    for suffix in ("", "-wal", "-shm"):
        proxy.database.with_name(proxy.database.name + suffix).unlink(missing_ok=True)
    after = blocked_urls(origin, "after", 20)
    fetch_all(proxy, after)
    wait_for(lambda: logged(proxy, after), timeout=15, what="events after the deletion in a new database")


def test_corrupt_database_at_start_is_refused_in_one_line(tmp_path, confdir) -> None:  # type: ignore[no-untyped-def]
    from harness import write_config

    config = write_config(tmp_path, {"faults": LIST})
    db = tmp_path / "pixelguard.db"
    garbage = b"this is not sqlite\x00" * 100
    db.write_bytes(garbage)
    env = {"PIXELGUARD_CONFDIR": str(confdir), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run(
        [*PIXELGUARD, "--config", str(config), "run", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env={**env, "PIXELGUARD_NO_UPDATES": "1"},
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("pixelguard: ") and "corrupt" in line]
    assert len(errors) == 1 and f"mv {db}" in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert db.read_bytes() == garbage  # never replaced by a new, empty history
