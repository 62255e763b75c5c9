"""Fixtures for the end-to-end tests; the machinery (origin, certificates, proxy process) is in harness.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Certs, Origin, Proxy, make_certs, start_proxy, write_config


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    # Names the browser test loads over HTTPS (the proxy verifies the origin against them, as it would a real site).
    return make_certs(tmp_path_factory.mktemp("certs"), ("localhost", "*.blog.test", "*.unlisted.test"))


@pytest.fixture(scope="session")
def origin(certs: Certs) -> Iterator[Origin]:
    o = Origin(certs)
    yield o
    o.close()


@pytest.fixture(scope="session")
def confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mitmproxy confdir (CA) for the session: generating a CA per proxy would only cost time."""
    return tmp_path_factory.mktemp("mitmproxy-confdir")


@pytest.fixture
def make_proxy(tmp_path: Path, confdir: Path, certs: Certs) -> Iterator[Callable[..., Proxy]]:
    """Factory: make_proxy(lists={name: text}, mode=..., user=..., extra=yaml) → a running Proxy."""
    started: list[Proxy] = []

    def make(lists: dict[str, str] | None = None, *args: str, **kw: Any) -> Proxy:
        home = tmp_path / f"proxy{len(started)}"
        config = write_config(home, lists or {}, **kw)
        p = start_proxy(home, config, confdir, certs, *args)
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()
    for p in started:
        assert_counters_agree_with_events(p)


def assert_counters_agree_with_events(proxy: Proxy) -> None:
    """After every e2e test's proxy: the per-minute "stopped" counters equal the events that stop something
    (blocked, replaced), one each: counting lives in one place (the recorder), so nothing is counted twice or
    recorded uncounted. (A test that deleted or locked the file still holds: events and counters are written
    in the same transactions.)"""
    import sqlite3

    from pixelguard.store.event import STOPPING

    if not proxy.database.exists():
        return
    con = sqlite3.connect(f"file:{proxy.database}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(STOPPING))
        events = con.execute(f"SELECT count(*) FROM events WHERE action IN ({marks})", STOPPING).fetchone()[0]
        stopped, seen = con.execute(
            "SELECT coalesce(sum(stopped), 0), coalesce(sum(seen), 0) FROM counters"
        ).fetchone()
    except sqlite3.OperationalError:
        return  # no tables: the proxy never got to write
    finally:
        con.close()
    assert stopped == events, f"{proxy.home}: counters say {stopped} stopped, events say {events}"
    assert seen >= stopped
