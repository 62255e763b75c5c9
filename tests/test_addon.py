"""The composed addons' hooks invoked through mitmproxy's addon manager (taddons/tflow), as mitmproxy tests its own
blocklist: each hook reaches every child in order (connect policy, decider, gpc, pixel replacer)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import write_config
from imagedata import BUILDERS
from mitmproxy import http
from mitmproxy.proxy.layers.http import (
    HttpConnectHook,
    HttpRequestHeadersHook,
    HttpRequestHook,
    HttpResponseHook,
)
from mitmproxy.proxy.layers.tls import TlsClienthelloHook
from mitmproxy.test import taddons, tflow

from pixelguard.proxy import pixel_replacer as pixelsaddon
from pixelguard.proxy.addon import Pixelguard
from pixelguard.proxy.flow_note import note_of
from pixelguard.proxy.responses import TRANSPARENT_GIF


class Driver:
    """Runs hooks the way mitmproxy does: on the parent and every child addon, in order."""

    def __init__(self, tctx: taddons.context, addon: Pixelguard):
        self.tctx, self.addon = tctx, addon

    def request(self, f: http.HTTPFlow) -> None:
        # As mitmproxy does: requestheaders when the headers arrive, request once the body has.
        self.tctx.master.addons.invoke_addon_sync(self.addon, HttpRequestHeadersHook(f))
        self.tctx.master.addons.invoke_addon_sync(self.addon, HttpRequestHook(f))

    def response(self, f: http.HTTPFlow) -> None:
        self.tctx.master.addons.invoke_addon_sync(self.addon, HttpResponseHook(f))

    def http_connect(self, f: http.HTTPFlow) -> None:
        self.tctx.master.addons.invoke_addon_sync(self.addon, HttpConnectHook(f))

    def tls_clienthello(self, data: object) -> None:
        self.tctx.master.addons.invoke_addon_sync(self.addon, TlsClienthelloHook(data))  # type: ignore[arg-type]

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.addon.shared.engine

    @engine.setter
    def engine(self, value) -> None:  # type: ignore[no-untyped-def]
        assert self.addon.shared.pipeline is not None
        self.addon.shared.pipeline.engine = value

    def _poll(self) -> None:
        assert self.addon.reloader is not None
        self.addon.reloader.poll()

    def done(self) -> None:
        self.addon.done()


LIST = "||tracker.test^\n/pixel/track.gif\n@@||tracker.test/allowed/\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, {"t": LIST}, extra="pixels: {learn_after: 2}\n")


@pytest.fixture
def pg(config: Path) -> Iterator[Driver]:
    a = Pixelguard()
    with taddons.context(a) as tctx:
        tctx.configure(a, pixelguard_config=str(config))
        yield Driver(tctx, a)
        a.done()


def req_flow(url: str, headers: dict[str, str] | None = None) -> http.HTTPFlow:
    f = tflow.tflow()
    f.request = http.Request.make("GET", url, headers=headers or {})
    return f


@pytest.mark.parametrize(
    ("url", "headers", "status", "ctype"),
    [
        ("http://tracker.test/a.gif", {"Accept": "image/*"}, 200, "image/gif"),
        ("https://tracker.test/x.js", {"Sec-Fetch-Dest": "script"}, 200, "application/javascript"),
        ("https://tracker.test/", {"Sec-Fetch-Dest": "document"}, 200, "text/html; charset=utf-8"),
        ("https://tracker.test/x.css", {"Sec-Fetch-Dest": "style"}, 200, "text/css"),
        ("https://tracker.test/collect", {"Sec-Fetch-Dest": "empty"}, 204, None),
        ("https://cdn.example/pixel/track.gif", {}, 200, "image/gif"),
        ("https://cdn.example/pixel/other.gif", {}, None, None),
        ("https://tracker.test/allowed/x.gif", {}, None, None),
    ],
)
def test_request_table(pg: Driver, url: str, headers: dict, status: int | None, ctype: str | None) -> None:
    f = req_flow(url, headers)
    pg.request(f)
    note = note_of(f)
    assert note is not None
    if status is None:
        assert f.response is None
        assert not note.decision.stopped
        return
    assert f.response is not None
    assert (f.response.status_code, f.response.headers.get("content-type")) == (status, ctype)
    assert f.response.headers["cache-control"] == "no-store"
    assert note.decision.stopped and note.decision.reason.list == "t"


def test_engine_that_raises_fails_open_in_one_line_without_the_request(
    pg: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def decide(self, *a: object, **k: object) -> None:
            raise RuntimeError("boom: http://tracker.test/a.gif?secret=1")

    pg.engine = Broken()
    f = req_flow("http://tracker.test/a.gif?secret=1")
    with caplog.at_level(logging.ERROR):
        pg.request(f)
    assert f.response is None
    failures = [r for r in caplog.records if "request check failed" in r.getMessage()]
    assert len(failures) == 1 and "RuntimeError" in failures[0].getMessage()
    assert "secret" not in caplog.text and "tracker.test" not in caplog.text and not failures[0].exc_info


def response_flow(pg: Driver, body: bytes, ctype: str, referer: str = "") -> http.HTTPFlow:
    f = req_flow("http://img.example/p.png", {"Referer": referer} if referer else {})
    pg.request(f)
    f.response = http.Response.make(200, body, {"Content-Type": ctype, "Set-Cookie": "id=1"})
    pg.response(f)
    return f


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_pixel_is_replaced(pg: Driver, fmt: str) -> None:
    f = response_flow(pg, BUILDERS[fmt](1, 1), "image/whatever")
    assert f.response.content == TRANSPARENT_GIF
    assert "set-cookie" not in f.response.headers
    assert note_of(f).replaced == f"1x1 {fmt}"


def test_large_image_and_html_untouched(pg: Driver) -> None:
    big = BUILDERS["png"](300, 250)
    assert response_flow(pg, big, "image/png").response.content == big
    gif_in_html = BUILDERS["gif"](1, 1)
    assert response_flow(pg, gif_in_html, "text/html").response.content == gif_in_html


def test_pixel_check_that_raises_fails_open(pg: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object) -> None:
        raise ValueError("bad header")

    monkeypatch.setattr(pixelsaddon.image_size, "dimensions", boom)
    one = BUILDERS["gif"](1, 1)
    f = response_flow(pg, one, "image/gif")
    assert f.response.content == one and f.response.headers["set-cookie"] == "id=1"


def test_learning_blocks_the_next_image_at_once(pg: Driver) -> None:
    for site in ("a.example", "b.example"):
        response_flow(pg, BUILDERS["gif"](1, 1), "image/gif", referer=f"https://{site}/")
    f = req_flow("http://img.example/p.png?visit=4", {"Accept": "image/*"})
    pg.request(f)
    assert f.response is not None and note_of(f).decision.reason.list == "learned"
    assert (
        note_of(f).decision.reason.rule == "||img.example/p.png^$image"
    )  # the one file the pixels came from
    other = req_flow("http://img.example/photo.jpg", {"Accept": "image/*"})
    pg.request(other)
    assert other.response is None  # the rest of the host still loads


def test_a_host_that_served_a_real_image_is_never_learned(pg: Driver) -> None:
    # The learned rule once was ||host^$image: a host that served 1x1 GIFs on 3 sites lost its 300x200 photo too.
    assert response_flow(pg, BUILDERS["png"](300, 200), "image/png").response.content != TRANSPARENT_GIF
    for site in ("a.example", "b.example", "c.example", "d.example"):
        f = response_flow(pg, BUILDERS["gif"](1, 1), "image/gif", referer=f"https://{site}/")
        assert f.response.content == TRANSPARENT_GIF  # each pixel is still replaced
    f = req_flow("http://img.example/p.png", {"Accept": "image/*"})
    pg.request(f)
    assert f.response is None and not pg.addon.shared.pending_learned


def test_broken_rebuild_keeps_the_working_engine(
    pg: Driver, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    working = pg.engine

    def fail() -> None:
        raise OSError("disk on fire")

    assert pg.addon.reloader is not None
    monkeypatch.setattr(pg.addon.reloader, "build", lambda cfg: fail())
    (config.parent / "lists" / "t.txt").write_text(LIST + "||more.test^\n")
    pg._poll()
    assert pg.engine is working
    f = req_flow("http://tracker.test/a.gif")
    pg.request(f)
    assert f.response is not None


def test_hosts_only_mode(config: Path) -> None:
    addon = Pixelguard(mode="hosts-only")
    with taddons.context(addon) as tctx:
        tctx.configure(addon, pixelguard_config=str(config))
        a = Driver(tctx, addon)
        f = tflow.tflow()
        f.request = http.Request.make("CONNECT", "http://tracker.test:443/")
        f.request.host, f.request.port = "tracker.test", 443
        a.http_connect(f)
        assert f.response is not None and f.response.status_code == 403
        ok = tflow.tflow()
        ok.request.host = "fine.example"
        a.http_connect(ok)
        assert ok.response is None

        class Hello:
            ignore_connection = False

        data = Hello()
        a.tls_clienthello(data)  # type: ignore[arg-type]
        assert data.ignore_connection
        a.done()


@pytest.mark.parametrize(
    ("headers", "url", "expected"),
    [
        ({"Sec-Fetch-Dest": "image"}, "https://a.test/x", "image"),
        ({"Sec-Fetch-Dest": "iframe"}, "https://a.test/x", "subdocument"),
        ({"Sec-Fetch-Dest": "empty"}, "https://a.test/x.gif", "xmlhttprequest"),
        ({"Accept": "image/avif,image/webp,*/*"}, "https://a.test/open", "image"),
        ({"Accept": "text/html,application/xhtml+xml"}, "https://a.test/", "document"),
        ({}, "https://a.test/lib.js?v=1", "script"),
        ({}, "https://a.test/p.GIF", "image"),
        ({}, "https://a.test/collect", "other"),
        ({"Upgrade": "websocket"}, "https://a.test/ws", "websocket"),
    ],
)
def test_resource_type(headers: dict, url: str, expected: str) -> None:
    from pixelguard.decision.request_model import resource_type

    assert (
        resource_type(http.Headers(**{k.replace("-", "_"): v for k, v in headers.items()}), url) == expected
    )


def test_source_url() -> None:
    from pixelguard.decision.request_model import source_url

    assert source_url(http.Headers(referer="https://news.example/a")) == "https://news.example/a"
    assert source_url(http.Headers(origin="https://news.example")) == "https://news.example/"
    assert source_url(http.Headers(origin="null")) is None
    assert source_url(http.Headers()) is None  # a mail client


def _blocked(pg: Driver, url: str) -> bool:
    f = req_flow(url, {"Accept": "image/*"})
    pg.request(f)
    return f.response is not None


def _eventually(cond, what: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_list_turned_off_in_the_config_is_followed_while_running(pg: Driver, config: Path) -> None:
    from pixelguard import config as configmod
    from pixelguard.config_edit import set_list_enabled

    assert _blocked(pg, "http://tracker.test/a.gif")
    set_list_enabled(configmod.load(config), "t", False)  # what the UI's space key does
    _eventually(lambda: not _blocked(pg, "http://tracker.test/a.gif"), "the list to be dropped")
    set_list_enabled(configmod.load(config), "t", True)
    _eventually(lambda: _blocked(pg, "http://tracker.test/a.gif"), "the list to come back")


def _replace(path: Path, text: str) -> None:
    """Write a file as the UI and most editors do: whole, by rename. The watcher thread polls concurrently
    and must never see it half-written (a truncated config reads as "no lists")."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_bad_or_restart_only_config_changes_keep_the_running_lists(
    pg: Driver, config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    text = config.read_text()
    _replace(config, text.replace("proxy: {mode: full}", "proxy: {mode: full, port: 9999}"))
    pg._poll()  # waits for the watcher thread's poll if that one saw the change first
    assert "restart pixelguard to apply proxy" in caplog.text
    _replace(config, text + "lists: [\n")
    pg._poll()
    assert "cannot be read, keeping the running one" in caplog.text
    assert _blocked(pg, "http://tracker.test/a.gif")


@pytest.mark.parametrize(
    ("urls", "prefix"),
    [
        (["http://h/o/1.gif", "http://h/o/2.gif?u=1", "http://h/o/3.gif"], "/o/"),
        (["http://h/open.gif?u=1", "http://h/open.gif?u=2", "http://h/open.gif"], "/open.gif^"),
        (["http://h/a.gif", "http://h/b/c.gif", "http://h/d.gif"], ""),
        (["http://h/t/x/1", "http://h/t/y/2", "http://h/t/x/3"], "/t/"),
        (["http://h/p$1.gif", "http://h/p$2.gif"], ""),  # $ would end the rule's pattern: cut before it
        (["http://h/" + "a" * 300 + "/1", "http://h/" + "a" * 300 + "/2"], ""),  # never a 300-character rule
    ],
)
def test_a_learned_rule_is_as_narrow_as_the_pixels_it_saw(urls: list[str], prefix: str) -> None:
    from pixelguard.decision.pixel_learner import Learner
    from pixelguard.engine import Engine
    from pixelguard.lists import learned_rule

    learner = Learner(learn_after=len(urls))
    seen = [learner.sighting("h.example", f"site{i}.example", u) for i, u in enumerate(urls)]
    learned = seen[-1]
    assert seen[:-1] == [None] * (len(urls) - 1) and learned is not None
    assert learned.prefix == prefix
    rule = learned_rule("h.example", prefix)
    engine = Engine.from_text(rule)  # the rule means what it says: every pixel URL it was learned from
    for u in urls:
        assert engine.check(u.replace("http://h/", "http://h.example/"), None, "image").blocked, (rule, u)


def test_one_request_builds_one_model_shared_by_every_addon(
    pg: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request model is built once per request, however many addons and stages look at it (a pixel that
    passes the lists, is looked at by GPC, the pixel replacer and the recorder)."""
    from pixelguard.decision.request_model import RequestModel

    built: list[str] = []
    original = RequestModel.build.__func__  # type: ignore[attr-defined]

    def counting(cls, url, *a, **k):  # type: ignore[no-untyped-def]
        built.append(url)
        return original(cls, url, *a, **k)

    monkeypatch.setattr(RequestModel, "build", classmethod(counting))
    f = response_flow(pg, BUILDERS["gif"](1, 1), "image/gif", referer="https://news.example/")
    assert f.response is not None and f.response.content == TRANSPARENT_GIF
    assert built == ["http://img.example/p.png"]
    note = note_of(f)
    assert note is not None and note.request.url == "http://img.example/p.png" and note.replaced == "1x1 gif"
    blocked = req_flow("http://tracker.test/a.gif?x=1", {"Accept": "image/*"})
    pg.request(blocked)
    assert built == ["http://img.example/p.png", "http://tracker.test/a.gif?x=1"]


def test_a_config_change_that_does_not_build_keeps_the_proxy_serving_and_following_files(
    pg: Driver, config: Path, tmp_path: Path
) -> None:
    """Before: configure stopped the reloader and the updater first, so a bad new config left the proxy serving
    with nothing following the list, pause and allow files any more."""
    from mitmproxy import exceptions

    reloader = pg.addon.reloader
    bad = tmp_path / "bad.yaml"
    bad.write_text("proxy: {port: nope}\n")
    # The running config's file has since gone bad too, so mitmproxy's rollback (configure again with the old
    # path) cannot rebuild either: whatever runs must keep running.
    good = config.read_text()
    config.write_text(good + "pixels: {max_width: many}\n")
    with pytest.raises(exceptions.OptionsError, match=r"proxy\.port|pixels"):
        pg.tctx.configure(pg.addon, pixelguard_config=str(bad))
    config.write_text(good)
    assert pg.addon.reloader is reloader and reloader is not None and reloader._thread is not None
    assert reloader._thread.is_alive()
    assert _blocked(pg, "http://tracker.test/a.gif")
    # The reloader still follows the lists: a rule added now applies.
    (config.parent / "lists" / "t.txt").write_text(LIST + "||later.test^\n")
    _eventually(lambda: _blocked(pg, "http://later.test/a.gif"), "the list change to be followed")


def test_a_config_naming_another_database_writes_there(pg: Driver, config: Path, tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "elsewhere"
    other.mkdir()
    moved = other / "config.yaml"
    moved.write_text(config.read_text().replace("database: pixelguard.db", f"database: {other / 'new.db'}"))
    (other / "lists").mkdir()
    (other / "lists" / "t.txt").write_text(LIST)
    pg.tctx.configure(pg.addon, pixelguard_config=str(moved))
    assert pg.addon._writer is not None and pg.addon._writer.db_path == other / "new.db"
    assert _blocked(pg, "http://tracker.test/moved.gif")
    _eventually(
        lambda: (
            (other / "new.db").exists()
            and sqlite3.connect(other / "new.db").execute("SELECT count(*) FROM events").fetchone()[0] == 1
        ),
        "the event in the new database",
    )


def _recorded(pg: Driver, config: Path) -> tuple[list[dict], tuple[int, int]]:
    """Close the addon (the writer flushes) and read back the events and the counters' (seen, stopped)."""
    import sqlite3

    pg.done()
    con = sqlite3.connect(config.parent / "pixelguard.db")
    con.row_factory = sqlite3.Row
    events = [dict(r) for r in con.execute("SELECT * FROM events ORDER BY id")]
    seen, stopped = con.execute(
        "SELECT coalesce(sum(seen), 0), coalesce(sum(stopped), 0) FROM counters"
    ).fetchone()
    con.close()
    return events, (seen, stopped)


def test_each_decision_is_one_event_and_counted_once(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {"t": LIST, "p": "$removeparam=fbclid\n"},
        extra="pixels: {learn_after: 100}\nidentity: {emails: [me@example.com]}\n",
    )
    a = Pixelguard()
    with taddons.context(a) as tctx:
        tctx.configure(a, pixelguard_config=str(config))
        pg = Driver(tctx, a)
        page = {"Referer": "https://news.example/"}
        pg.request(req_flow("http://tracker.test/a.gif", {"Accept": "image/*", **page}))  # blocked
        pg.request(
            req_flow("http://cdn.example/x.js?fbclid=1&v=2", {"Sec-Fetch-Dest": "script", **page})
        )  # cleaned
        pg.request(req_flow("http://cdn.example/ok.js", {"Sec-Fetch-Dest": "script", **page}))  # passed
        pg.request(req_flow("http://tracker.test/allowed/x.gif", page))  # excepted: passed
        pg.request(req_flow("http://collector.example/c?e=me%40example.com", page))  # the leak alarm
        f = response_flow(pg, BUILDERS["gif"](1, 1), "image/gif", referer="https://news.example/")  # replaced
        assert f.response.content == TRANSPARENT_GIF
        connect = tflow.tflow()
        connect.request = http.Request.make("CONNECT", "http://tracker.test:443/")
        connect.request.host, connect.request.port = "tracker.test", 443
        pg.http_connect(connect)  # full mode: decided by its requests, not counted at CONNECT
        events, (seen, stopped) = _recorded(pg, config)
    summary = [(e["host"], e["reason"], e["action"], e["rule"]) for e in events]
    assert summary == [
        ("tracker.test", "filter", "blocked", "||tracker.test^"),
        ("cdn.example", "param", "cleaned", "$removeparam=fbclid"),
        ("collector.example", "leak", "blocked", "your identity (leak alarm)"),
        ("img.example", "pixel", "replaced", None),
    ]
    assert "me@example.com" not in events[2]["url"] and "[your email" in events[2]["url"]
    assert events[2]["detail"] == "your email (url-encoded) in the URL"
    assert events[3]["detail"] == "1x1 gif"
    # Six requests seen (the pixel's request among them); three stops: two blocked, one replaced.
    assert (seen, stopped) == (6, 3)


def test_a_refused_tunnel_is_one_event_and_one_stop(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"t": LIST}, extra="tls: {passthrough: [tracker.test]}\n")
    a = Pixelguard()
    with taddons.context(a) as tctx:
        tctx.configure(a, pixelguard_config=str(config))
        pg = Driver(tctx, a)
        f = tflow.tflow()
        f.request = http.Request.make("CONNECT", "http://tracker.test:443/")
        f.request.host, f.request.port = "tracker.test", 443
        pg.http_connect(f)
        assert f.response is not None and f.response.status_code == 403
        events, counted = _recorded(pg, config)
    assert [(e["reason"], e["action"], e["url"]) for e in events] == [
        ("host", "blocked", "https://tracker.test/")
    ]
    assert counted == (1, 1)  # before: the event without its stop, so the counters and the events disagreed
