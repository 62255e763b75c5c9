"""What the CLI and UI read: tail, recent with filters, top trackers/sites, counters, stats."""

from __future__ import annotations

import time

import pytest
from store_helpers import event

from pixelguard import render
from pixelguard.store import db as dbmod
from pixelguard.store import queries
from pixelguard.store.event import NOT_HTTP, UNREAD_BODY
from pixelguard.store.writer import Writer

NOW = time.time()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "pg.db"
    with Writer(path, retention_days=None) as w:
        # 3 hosts on 2 sites, one old event, one pixel with no site (a mail client).
        w.put(event(1, host="px.ads.test", site="news.example", ts=NOW - 7200))
        for n in range(2, 6):
            w.put(event(n, host="px.ads.test", site="news.example", ts=NOW - 60))
        w.put(event(6, host="px.ads.test", site="shop.example", ts=NOW - 50))
        w.put(event(7, host="notads.test", site="shop.example", ts=NOW - 40))
        w.put(
            type(event(8))(
                **{
                    **event(8, host="mail.track.test", site="").row(),
                    "reason": "pixel",
                    "list": None,
                    "line": None,
                    "rule": None,
                }
            )
        )
        for _ in range(10):
            w.count(seen=1, stopped=0)
        w.count(seen=7, stopped=7)
    return dbmod.connect(path, readonly=True)


def ns(rows):
    return [int(r["url"].rsplit("=", 1)[1]) for r in rows]


def test_tail_after_id_oldest_first(db):
    assert ns(queries.tail(db)) == list(range(1, 9))
    assert ns(queries.tail(db, after_id=5)) == [6, 7, 8]
    assert ns(queries.tail(db, after_id=2, limit=2)) == [3, 4]
    assert queries.tail(db, after_id=8) == [] and queries.last_id(db) == 8


def test_recent_newest_first_with_filters(db):
    assert ns(queries.recent(db, limit=3)) == [8, 7, 6]
    assert ns(queries.recent(db, since_ts=NOW - 3600)) == [8, 7, 6, 5, 4, 3, 2]
    # host matches itself and subdomains, not a name that merely ends the same way
    assert ns(queries.recent(db, host="ads.test")) == [6, 5, 4, 3, 2, 1]
    assert ns(queries.recent(db, host="PX.ADS.TEST.")) == [6, 5, 4, 3, 2, 1]
    assert ns(queries.recent(db, text="shop.example")) == [7, 6]
    assert ns(queries.recent(db, host="*.test")) == []  # glob characters are literal


def test_top_trackers_and_sites(db):
    since = NOW - 3600
    assert queries.top_trackers(db, since) == [
        {"host": "px.ads.test", "count": 5, "sites": 2},
        {"host": "mail.track.test", "count": 1, "sites": 0},
        {"host": "notads.test", "count": 1, "sites": 1},
    ]
    assert queries.top_trackers(db, since, limit=1)[0]["host"] == "px.ads.test"
    assert queries.top_sites(db, since) == [
        {"site": "news.example", "count": 4, "trackers": 1},
        {"site": "shop.example", "count": 2, "trackers": 2},
    ]


def test_counters_totals_and_minutes(db):
    assert queries.totals(db, NOW - 3600) == {"seen": 17, "stopped": 7}
    assert queries.totals(db, NOW + 3600) == {"seen": 0, "stopped": 0}
    per_minute = queries.stops_per_minute(db, NOW - 3600)
    assert sum(c for _, c in per_minute) == 7 and all(m % 60 == 0 for m, _ in per_minute)


def test_host_span(db):
    first, last = queries.host_span(db, "px.ads.test")
    assert first == pytest.approx(NOW - 7200) and last == pytest.approx(NOW - 50)
    assert queries.host_span(db, "never.test") is None


def test_stats(db):
    s = queries.stats(db, NOW - 3600)
    assert (s["seen"], s["stopped"], s["share"], s["events"]) == (17, 7, round(7 / 17, 4), 7)
    assert s["bytes"] == 7 * 43
    assert s["by_reason"] == [{"reason": "filter", "count": 6}, {"reason": "pixel", "count": 1}]
    assert s["by_list"] == [{"list": "easyprivacy", "count": 6}, {"list": "", "count": 1}]
    text = "\n".join(render.stats_lines(s, "1h"))
    assert "17 requests seen, 7 stopped (41.2%)" in text and "px.ads.test" in text


def test_tunnels_relayed_as_raw_bytes_are_listed_by_place_and_are_no_tracker(tmp_path):
    path = tmp_path / "relays.db"
    with Writer(path, retention_days=None) as w:

        def relay(n: int, host: str, port: int, ts: float) -> None:
            w.put(type(event(n))(**{**event(n, host=host, site="", ts=ts).row(), "url": f"tcp://{host}:{port}",
                                    "reason": "not-http", "action": "passthrough", "list": None, "line": None,
                                    "rule": None}))  # fmt: skip

        relay(1, "imap.mail.test", 993, NOW - 7200)
        relay(2, "imap.mail.test", 993, NOW - 60)
        relay(3, "chat.test", 5222, NOW - 30)
        relay(4, "old.test", 25, NOW - 90000)  # older than the window asked
        w.put(event(5, host="px.ads.test", site="news.example", ts=NOW - 20))
        # A request body read in part (proxy/decider.py) is listed apart, by host.
        w.put(type(event(6))(**{**event(6, host="drive.test", site="", ts=NOW - 10).row(), "url": "https://drive.test/",
                                "reason": UNREAD_BODY, "action": "passthrough", "list": None, "line": None,
                                "rule": None}))  # fmt: skip
    db = dbmod.connect(path, readonly=True)
    rows = queries.undecided(db, NOW - 86400, NOT_HTTP)
    assert [(r["url"], r["count"]) for r in rows] == [
        ("tcp://chat.test:5222", 1),
        ("tcp://imap.mail.test:993", 2),
    ]
    assert rows[1]["last"] == pytest.approx(NOW - 60)
    assert [(r["url"], r["count"]) for r in queries.undecided(db, NOW - 86400, UNREAD_BODY)] == [
        ("https://drive.test/", 1)
    ]
    # Nothing was stopped on a relay or an upload: neither is a tracker.
    assert [r["host"] for r in queries.top_trackers(db, NOW - 86400)] == ["px.ads.test"]


def test_where_things_went_unread_is_named_by_place_the_first_five_and_a_count() -> None:
    from pixelguard import relays

    urls = ["tcp://imap.mail.test:993", "https://drive.test/", "http://[::1]/"] + [
        f"https://h{n}.test/" for n in range(4)
    ]
    rows = [{"url": url, "last": NOW - n} for n, url in enumerate(urls)]
    said = relays.summary(rows)
    assert said.startswith("imap.mail.test:993 (last at ") and ", drive.test (last at " in said
    assert ", [::1] (last at " in said and said.endswith(" and 2 more") and "h3.test" not in said
    assert relays.summary(rows[:5]).count("(last at") == 5 and "more" not in relays.summary(rows[:5])
