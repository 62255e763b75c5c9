"""Subscription updates against a real HTTP server on 127.0.0.1: the working copy survives every bad answer."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import free_port, serve_http

from pixelguard import update
from pixelguard.cli import cli
from pixelguard.config import Config, ListSpec, load


def make_list(n: int, expires: str = "4 days", title: str = "Test list") -> bytes:
    head = f"[Adblock Plus 2.0]\n! Title: {title}\n! Expires: {expires}\n"
    return (head + "".join(f"||tracker{i}.example^\n" for i in range(n))).encode()


GOOD = make_list(100)


class Origin:
    """Routes path -> (status, headers, body); records the request headers it saw."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.seen: list[dict[str, str]] = []
        self.release = threading.Event()  # lets the slow route's handler finish at teardown
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                origin.seen.append({k.lower(): v for k, v in self.headers.items()})
                if self.path == "/slow":
                    origin.release.wait(10)
                status, headers, body = origin.routes.get(self.path, (404, {}, b"not found"))
                etag = headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    try:
                        self.wfile.write(body)
                    except OSError:
                        pass

            def log_message(self, *args: object) -> None:
                pass

        self.handler = Handler
        self.base = ""  # set while it is served

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
def origin() -> Iterator[Origin]:
    o = Origin()
    with serve_http(o.handler) as o.base:
        yield o
        o.release.set()


def spec_for(tmp_path: Path, origin: Origin, path: str = "/list.txt", name: str = "easyprivacy") -> ListSpec:
    return ListSpec(name, tmp_path / "lists" / f"{name}.txt", url=origin.url(path))


def good_copy(tmp_path: Path, origin: Origin) -> ListSpec:
    origin.routes["/list.txt"] = (200, {"Content-Type": "text/plain", "ETag": '"v1"'}, GOOD)
    spec = spec_for(tmp_path, origin)
    r = update.update_list(spec, timeout=5)
    assert (r.status, r.rules) == ("updated", 100), r
    assert spec.file.read_bytes() == GOOD
    return spec


def test_good_download_then_304_with_conditional_request(tmp_path: Path, origin: Origin) -> None:
    spec = good_copy(tmp_path, origin)
    meta = json.loads(update.meta_path(spec).read_text())
    assert meta["etag"] == '"v1"' and meta["rules"] == 100 and meta["expires_seconds"] == 4 * 86400
    assert "if-none-match" not in origin.seen[0]

    r = update.update_list(spec, force=True, timeout=5)
    assert r.status == "not-modified", r
    assert origin.seen[-1]["if-none-match"] == '"v1"'
    assert spec.file.read_bytes() == GOOD


BAD = {
    "truncated": ((200, {"Content-Type": "text/plain"}, make_list(20)), "looks truncated: 20 rules"),
    "html page with 200": (
        (200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html><body>Service unavailable</body></html>"),
        "web page",
    ),
    "html page as text/plain": (
        (200, {"Content-Type": "text/plain"}, b"<html><body>Oops</body></html>"),
        "web page",
    ),
    "500": ((500, {"Content-Type": "text/plain"}, b"boom"), "HTTP 500"),
    "no header": (
        (200, {"Content-Type": "text/plain"}, b"name,value\nsome text,42\n" * 100),
        "not a filter list",
    ),
    # Two words read as a hosts line ("Sign in" would map a host "in"): prose is not a list.
    "plain-text notice": (
        (
            200,
            {"Content-Type": "text/plain"},
            b"Sign in to use this network\nThe page you asked for is gone\n" * 60,
        ),
        "not a filter list",
    ),
    "not utf-8": (
        (200, {"Content-Type": "text/plain"}, b"[Adblock Plus 2.0]\n! Title: x\n\xff\xfe\x81"),
        "not UTF-8",
    ),
    "empty list": (
        (200, {"Content-Type": "text/plain"}, b"[Adblock Plus 2.0]\n! Title: x\n"),
        "no usable rules",
    ),
    "404": ((404, {}, b"nope"), "HTTP 404"),
}


def test_a_first_download_that_fails_says_there_is_no_copy_and_nothing_else(
    tmp_path: Path, origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    # Offline on the first start: the result says so, and the proxy's log says it once (it once said "keeping the
    # previous copy" and "no copy yet" about the same list, then the same failure twice).
    spec = spec_for(tmp_path, origin, "/missing.txt")
    origin.routes["/missing.txt"] = (404, {}, b"nope")
    with caplog.at_level("INFO", logger="pixelguard.update"):
        r = update.update_list(spec, force=True, timeout=5)
        assert not caplog.records  # the caller reports the result: the CLI prints it, the proxy logs it
        cfg = _config(tmp_path, origin)
        origin.routes["/list.txt"] = (404, {}, b"nope")
        stop = threading.Event()
        t = update.start_background_updater(cfg, stop, interval=60, first_delay=0)
        deadline = time.monotonic() + 10
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        t.join(5)
    assert r.status == "failed" and "no copy yet: the list blocks nothing" in r.message
    assert "previous copy" not in r.message and not spec.file.exists()
    logged = [rec.getMessage() for rec in caplog.records]
    assert len(logged) == 1 and logged[0].startswith("list good: failed") and "no copy yet" in logged[0], (
        logged
    )


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_answers_keep_the_working_copy(tmp_path: Path, origin: Origin, case: str) -> None:
    spec = good_copy(tmp_path, origin)
    meta_before = update.meta_path(spec).read_bytes()
    (status, headers, body), reason = BAD[case]
    origin.routes["/list.txt"] = (status, headers, body)
    r = update.update_list(spec, force=True, timeout=5)
    assert r.status == "failed", r
    assert reason in r.message and "kept the previous copy" in r.message
    assert spec.file.read_bytes() == GOOD
    assert update.meta_path(spec).read_bytes() == meta_before
    assert not [p for p in spec.file.parent.iterdir() if p.name.endswith(".tmp")]


def test_slow_server_times_out_and_keeps_the_copy(tmp_path: Path, origin: Origin) -> None:
    spec = good_copy(tmp_path, origin)
    slow = ListSpec(spec.name, spec.file, url=origin.url("/slow"))
    origin.routes["/slow"] = (200, {"Content-Type": "text/plain"}, make_list(200))
    t0 = time.monotonic()
    r = update.update_list(slow, force=True, timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert r.status == "failed" and "timed out after 0.5s" in r.message, r
    assert spec.file.read_bytes() == GOOD


def test_connection_refused(tmp_path: Path, origin: Origin) -> None:
    spec = good_copy(tmp_path, origin)
    nobody = ListSpec(spec.name, spec.file, url=f"http://127.0.0.1:{free_port()}/list.txt")  # nothing listens
    r = update.update_list(nobody, force=True, timeout=2)
    assert r.status == "failed" and "cannot connect" in r.message
    assert spec.file.read_bytes() == GOOD


def test_expires_decides_when_a_list_is_due(tmp_path: Path, origin: Origin) -> None:
    origin.routes["/list.txt"] = (
        200,
        {"Content-Type": "text/plain"},
        make_list(60, expires="2 hours (update)"),
    )
    spec = spec_for(tmp_path, origin)
    assert update.due(spec)  # no copy yet
    assert update.update_list(spec, timeout=5).status == "updated"
    assert not update.due(spec)
    assert update.due(spec, now=time.time() + 2 * 3600 + 5)
    r = update.update_list(spec, timeout=5)
    assert r.status == "skipped" and "not due" in r.message
    assert len(origin.seen) == 1


def test_parse_expires() -> None:
    assert update.parse_expires("! Expires: 4 days (update frequency)").days == 4
    assert update.parse_expires("! Expires: 12 hours").total_seconds() == 12 * 3600
    assert update.parse_expires("! Expires: 0 hours") == update.MIN_EXPIRES
    assert update.parse_expires("! Expires: 365 days") == update.MAX_EXPIRES
    assert update.parse_expires("! Title: x") is None


def test_progress_callback_sees_the_bytes(tmp_path: Path, origin: Origin) -> None:
    big = make_list(20_000)
    origin.routes["/list.txt"] = (200, {"Content-Type": "text/plain"}, big)
    calls: list[tuple[int, int | None]] = []
    r = update.update_list(spec_for(tmp_path, origin), timeout=5, progress=lambda d, t: calls.append((d, t)))
    assert r.status == "updated"
    assert len(calls) > 1 and calls[-1] == (len(big), len(big))


def test_background_updater_downloads_due_lists_and_stops(tmp_path: Path, origin: Origin) -> None:
    origin.routes["/list.txt"] = (200, {"Content-Type": "text/plain"}, GOOD)
    cfg = _config(tmp_path, origin)
    stop = threading.Event()
    t = update.start_background_updater(cfg, stop, interval=0.05, first_delay=0)
    target = cfg.lists[0].file
    deadline = time.monotonic() + 10
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    t.join(5)
    assert not t.is_alive()
    assert target.read_bytes() == GOOD
    # Disabled subscriptions are never fetched in the background.
    assert not cfg.lists[1].file.exists()
    assert all(s.get("if-none-match") is None for s in origin.seen)


def _config(tmp_path: Path, origin: Origin, extra: str = "") -> Config:
    cfgfile = tmp_path / "config.yaml"
    cfgfile.write_text(
        "default_lists: false\nlists:\n"
        "  - {name: pixelguard-email, path: bundled}\n"
        f"  - {{name: good, url: '{origin.url('/list.txt')}'}}\n"
        f"  - {{name: spare, url: '{origin.url('/list.txt')}', enabled: false}}\n" + extra
    )
    cfg = load(cfgfile)
    return dataclasses.replace(cfg, lists=tuple(s for s in cfg.lists if s.url))


def test_cli_lists_update_and_status(tmp_path: Path, origin: Origin) -> None:
    origin.routes["/list.txt"] = (200, {"Content-Type": "text/plain", "ETag": '"a"'}, GOOD)
    origin.routes["/broken"] = (500, {}, b"")
    cfgfile = tmp_path / "config.yaml"
    cfgfile.write_text(
        "default_lists: false\nlists:\n"
        "  - {name: pixelguard-email, path: bundled}\n"
        f"  - {{name: broken, url: '{origin.url('/broken')}'}}\n"
        f"  - {{name: good, url: '{origin.url('/list.txt')}'}}\n"
    )
    run = CliRunner().invoke
    r = run(cli, ["--config", str(cfgfile), "lists", "update"])
    # Every list is tried; a failure makes the exit code 1 and says why, one line per list.
    assert r.exit_code == 1, r.output
    assert "broken: failed: HTTP 500" in r.stdout
    assert "good: updated: 100 rules" in r.stdout

    r = run(cli, ["--config", str(cfgfile), "lists", "update", "good"])
    assert r.exit_code == 0 and "good: skipped: not due yet" in r.stdout
    r = run(cli, ["--config", str(cfgfile), "lists", "update", "good", "--force"])
    assert r.exit_code == 0 and "good: not-modified" in r.stdout

    r = run(cli, ["--config", str(cfgfile), "lists", "update", "nosuch"])
    assert r.exit_code == 2 and "no list named 'nosuch'" in r.stderr and len(r.stderr.splitlines()) == 1

    r = run(cli, ["--config", str(cfgfile), "lists", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows["good"]["rules"] == 100 and rows["good"]["skipped"] == 0
    assert rows["good"]["source"] == origin.url("/list.txt")
    assert rows["broken"]["exists"] is False and rows["broken"]["rules"] is None
    assert rows["pixelguard-email"]["source"] == "bundled" and rows["pixelguard-email"]["rules"] > 300
    r = run(cli, ["--config", str(cfgfile), "lists"])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].split() == ["NAME", "ON", "RULES", "SKIPPED", "AGE", "SOURCE"]
    assert any(line.split()[:3] == ["good", "yes", "100"] for line in r.stdout.splitlines())


def test_a_failed_update_is_said_once(tmp_path: Path) -> None:
    """Issue 28: `lists update` printed each failure twice (its own line, and the updater's log line through
    Python's last-resort handler)."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a port nothing listens on: bound, then released
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfgfile = tmp_path / "config.yaml"
    cfgfile.write_text(
        f"database: {tmp_path}/pg.db\nuser_list: {tmp_path}/user.txt\ndefault_lists: false\n"
        f"lists:\n  - {{name: sub, url: 'http://127.0.0.1:{port}/sub.txt'}}\n"
    )
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "d"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    done = subprocess.run(
        [sys.executable, "-m", "pixelguard", "--config", str(cfgfile), "lists", "update", "sub"],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 1 and said.count("cannot connect") == 1, said


def test_lists_are_downloaded_through_the_upstream_proxy_with_its_login(
    tmp_path: Path, origin: Origin
) -> None:
    """On a network whose only way out is a proxy (proxy.upstream), a list comes through it, as the traffic does:
    `lists update` and the proxy's background updater both. The login is percent-encoded for urllib."""
    from upstream_proxy import UpstreamProxy

    from pixelguard.config import parse_upstream

    origin.routes["/list.txt"] = (200, {"Content-Type": "text/plain"}, GOOD)
    up = UpstreamProxy(login="me:p@ss:word")
    try:
        via = parse_upstream(f"http://me:p%40ss%3Aword@127.0.0.1:{up.port}")
        r = update.update_list(spec_for(tmp_path, origin), timeout=5, via=via)
        assert (r.status, r.rules) == ("updated", 100), r
        assert up.seen == [f"GET {origin.url('/list.txt')} HTTP/1.1"] and up.refused == 0
        wrong = parse_upstream(f"http://me:wrong@127.0.0.1:{up.port}")
        r = update.update_list(spec_for(tmp_path, origin), force=True, timeout=5, via=wrong)
        assert r.status == "failed" and "407" in r.message and "wrong" not in r.message
        assert up.refused == 1

        cfg = _config(
            tmp_path, origin, f"proxy: {{upstream: 'http://me:p%40ss%3Aword@127.0.0.1:{up.port}'}}\n"
        )
        results = list(update.iter_update(cfg, ["good"], force=True, timeout=5))
        assert [x.status for x in results] == ["updated"]
        assert len(up.seen) == 2
    finally:
        up.close()
