"""CLI: log, stats, allow, unallow, pause, resume — every flag, readable and --json output, and bad input."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from store_helpers import event

from pixelguard import pause as pausemod
from pixelguard.cli import cli
from pixelguard.store.writer import Writer

NOW = time.time()


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("database: ./pg.db\nuser_list: ./user.txt\n")
    return path


def run(conf: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(conf), *args], prog_name="pixelguard")


def fill(conf: Path) -> None:
    with Writer(conf.parent / "pg.db") as w:
        w.put(event(1, host="old.tracker.test", ts=NOW - 3 * 3600))
        for n in range(2, 12):
            w.put(event(n, host="px.ads.test" if n % 2 else "cdn.ads.test", ts=NOW - 100 + n))
        w.put(event(12, host="notads.test", site="", ts=NOW - 1))
        w.count(seen=40, stopped=12)


def one_line_error(r: Result) -> str:
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.output
    return lines[0]


# --- log ------------------------------------------------------------------------------------------------


def test_log_without_database(conf):
    r = run(conf, "log")
    assert r.exit_code == 0
    assert r.output.strip() == f"no events yet (database {conf.parent / 'pg.db'} does not exist)"
    assert not (conf.parent / "pg.db").exists()


def test_log_table_newest_last(conf):
    fill(conf)
    r = run(conf, "log")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["TIME", "HOST", "SITE", "TYPE", "REASON", "LIST:LINE"]
    assert len(lines) == 13
    assert "old.tracker.test" in lines[1] and "notads.test" in lines[-1]
    cells = lines[1].split()
    assert cells[0] == time.strftime("%H:%M:%S", time.localtime(NOW - 3 * 3600))
    assert cells[1:] == ["old.tracker.test", "news.example", "image", "filter", "easyprivacy:101"]
    assert lines[-1].split()[2] == "-"  # no site (a mail client)
    assert "[" not in r.stdout  # plain text, no markup


def test_log_limit_since_host(conf):
    fill(conf)
    r = run(conf, "log", "--limit", "3")
    assert [line.split()[1] for line in r.stdout.splitlines()[1:]] == [
        "cdn.ads.test",
        "px.ads.test",
        "notads.test",
    ]
    r = run(conf, "log", "-n", "100", "--since", "1h")
    assert len(r.stdout.splitlines()) == 12 and "old.tracker.test" not in r.stdout
    # past what SQLite's LIMIT takes: every row, not a crash
    r = run(conf, "log", "-n", "9" * 25)
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 13 and "old.tracker.test" in r.stdout, r.output
    r = run(conf, "log", "--host", "ads.test")
    hosts = {line.split()[1] for line in r.stdout.splitlines()[1:]}
    assert hosts == {"px.ads.test", "cdn.ads.test"}  # subdomains of ads.test, not notads.test
    r = run(conf, "log", "--host", "nothing.test")
    assert (
        r.exit_code == 0 and r.stdout == "no events for nothing.test (and its subdomains)\n"
    )  # says so, not silence


def test_log_json(conf):
    fill(conf)
    r = run(conf, "log", "--json", "-n", "2", "--host", "px.ads.test")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["host"] for row in rows] == ["px.ads.test", "px.ads.test"]
    assert rows[0]["id"] < rows[1]["id"]
    row = rows[1]
    assert row["url"] == "http://px.ads.test/p.gif?n=11" and row["rule"] == "||px.ads.test^"
    assert row["list"] == "easyprivacy" and row["line"] == 101 and row["bytes"] == 43
    assert abs(datetime.fromisoformat(row["time"]).timestamp() - row["ts"]) < 0.001


@pytest.mark.parametrize(
    "args",
    [
        ("log", "--since", "abc"),
        ("log", "--since", "0m"),
        ("log", "--limit", "0"),
        ("log", "--limit", "many"),
        ("stats", "--since", "abc"),
        ("pause", "abc"),
        ("pause", "5x"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(conf, args):
    fill(conf)
    line = one_line_error(run(conf, *args))
    assert args[-1] in line


def test_corrupt_database_is_one_line_with_the_way_out(conf):
    db = conf.parent / "pg.db"
    db.write_bytes(b"not sqlite" * 100)
    for cmd in ("log", "stats"):
        line = one_line_error(run(conf, cmd))
        assert "not a pixelguard database" in line and f"mv {db} {db}.corrupt-" in line
    assert db.read_bytes() == b"not sqlite" * 100


def test_log_follow_prints_new_events_until_ctrl_c(conf):
    fill(conf)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pixelguard",
            "--config",
            str(conf),
            "log",
            "--follow",
            "-n",
            "1",
            "--host",
            "ads.test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C as in a terminal. A test run started in the background (`cmd &`, as CI may be) ignores
        # SIGINT, and a child inherits that, so without this the interrupt below would never arrive.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    try:
        assert lines.get(timeout=30).split()[0] == "TIME"
        assert "px.ads.test" in lines.get(timeout=30)  # the last matching event (n=11)
        w = Writer(conf.parent / "pg.db").start()
        w.put(event(100, host="other.test"))  # filtered out by --host
        w.put(event(101, host="new.ads.test"))
        assert "new.ads.test" in lines.get(timeout=30)  # the next line printed is the new match
        w.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
        reader.join(timeout=30)
        assert list(lines.queue) == []  # nothing else: other.test was filtered out
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()


# --- stats ----------------------------------------------------------------------------------------------


def test_stats_without_database(conf):
    r = run(conf, "stats")
    assert r.exit_code == 0 and "no events yet" in r.output


def test_stats_text_and_json(conf):
    fill(conf)
    r = run(conf, "stats")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("last 24h: 40 requests seen, 12 stopped (30.0%), 12 events recorded")
    # What "stopped", "events" and "bytes never sent" mean, said once (issue 28).
    assert "events also hold requests that went to their site changed" in r.stdout
    assert "the bodies of stopped requests that never left, and the pixels replaced" in r.stdout
    for part in (
        "top trackers",
        "px.ads.test",
        "top sites",
        "news.example",
        "by reason",
        "by list",
        "easyprivacy",
    ):
        assert part in r.stdout
    assert "old.tracker.test" in r.stdout  # 3 hours ago is inside the default 24h
    r = run(conf, "stats", "--since", "1h", "--json")
    (line,) = r.stdout.splitlines()
    s = json.loads(line)
    assert (s["seen"], s["stopped"], s["events"]) == (40, 12, 11)
    assert s["top_trackers"][0] == {"host": "cdn.ads.test", "count": 5, "sites": 1} or s["top_trackers"][
        0
    ] == {
        "host": "px.ads.test",
        "count": 5,
        "sites": 1,
    }
    assert {t["host"] for t in s["top_trackers"]} == {"px.ads.test", "cdn.ads.test", "notads.test"}
    assert s["by_reason"] == [{"reason": "filter", "count": 11}]


# --- allow / unallow ------------------------------------------------------------------------------------


def test_allow_and_unallow(conf):
    user = conf.parent / "user.txt"
    r = run(conf, "allow", "example.com")
    assert r.exit_code == 0 and "added @@||example.com^" in r.stdout and "within a second" in r.stdout
    assert user.read_text().startswith("! pixelguard user list")  # created from the template
    r = run(conf, "allow", "example.com")
    assert r.exit_code == 0 and "nothing changed" in r.stdout
    r = run(conf, "allow", "cdn.example.net", "--site", "shop.com")
    assert "@@||cdn.example.net^$domain=shop.com" in r.stdout
    r = run(conf, "allow", "--site", "news.site")
    assert "@@||news.site^$document" in r.stdout
    rules = [line for line in user.read_text().splitlines() if not line.startswith("!")]
    assert rules == ["@@||example.com^", "@@||cdn.example.net^$domain=shop.com", "@@||news.site^$document"]

    r = run(conf, "unallow", "example.com")
    assert r.exit_code == 0 and "removed @@||example.com^" in r.stdout
    r = run(conf, "unallow", "example.com")
    assert r.exit_code == 0 and "nothing changed" in r.stdout
    assert "removed" in run(conf, "unallow", "cdn.example.net", "--site", "shop.com").stdout
    assert "removed" in run(conf, "unallow", "--site", "news.site").stdout
    assert [line for line in user.read_text().splitlines() if not line.startswith("!")] == []


def test_allow_idn(conf):
    r = run(conf, "allow", "bücher.de")
    assert r.exit_code == 0 and "@@||xn--bcher-kva.de^" in r.stdout


@pytest.mark.parametrize("cmd", ["allow", "unallow"])
@pytest.mark.parametrize(
    "args",
    [("exa mple",), ("ftp://x/y",), ("*",), ("example.com", "--site", "shop com"), ("--site", "a/b"), ()],
)
def test_allow_bad_input(conf, cmd, args):
    line = one_line_error(run(conf, cmd, *args))
    assert line.startswith("pixelguard: ")
    assert not (conf.parent / "user.txt").exists()  # nothing written, not even the template


# --- pause / resume -------------------------------------------------------------------------------------


def test_pause_default_and_duration_then_resume(conf, isolated_home):
    data = isolated_home / "data" / "pixelguard"
    r = run(conf, "pause")
    assert r.exit_code == 0 and "paused until" in r.stdout and "(10m)" in r.stdout
    until = pausemod.paused_until(data)
    assert until is not None and 590 < (until - datetime.now(UTC)).total_seconds() <= 600
    r = run(conf, "pause", "1h30m")
    assert r.exit_code == 0 and "(90m)" in r.stdout
    until = pausemod.paused_until(data)
    assert until is not None and 5390 < (until - datetime.now(UTC)).total_seconds() <= 5400
    r = run(conf, "resume")
    assert r.exit_code == 0 and r.stdout.strip() == "protection resumed"
    assert pausemod.paused_until(data) is None
    r = run(conf, "resume")
    assert r.exit_code == 0 and "was not paused" in r.stdout
