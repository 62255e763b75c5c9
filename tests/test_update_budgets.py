"""A subscription's download is bounded as a whole (issue 24): one byte budget for the list and every file it
includes, one deadline on the whole download, whatever the server does; the working copy survives byte for byte.

Servers on 127.0.0.1 only, making their bodies on the fly (nothing of the sizes below is ever held by the test)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from helpers import serve_http

from pixelguard import update
from pixelguard.config import ListSpec

REPO = Path(__file__).resolve().parent.parent
INCLUDE_MB = 57


def _list_text(includes: int) -> bytes:
    head = "[Adblock Plus 2.0]\n! Title: Many includes\n||tracker.example^\n"
    return (head + "".join(f"!#include part{i}.txt\n" for i in range(includes))).encode()


class Big(BaseHTTPRequestHandler):
    """/list.txt includes 16 files of 57 MB each (912 MB), made line by line as they are sent; /trickle sends a
    byte a second, never finishing within any deadline."""

    stop = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/list.txt":
            body = _list_text(16)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/part"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")  # no length announced: only reading it tells
            self.end_headers()
            line = b"||a-rather-long-tracker-name-0123456789.example^\n"
            chunk = line * (65536 // len(line))
            try:
                for _ in range(INCLUDE_MB * 1024 * 1024 // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True
        elif self.path == "/trickle.txt":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                self.wfile.write(b"[Adblock Plus 2.0]\n")
                self.wfile.flush()
                while not Big.stop.wait(1.0):
                    self.wfile.write(b"!")
                    self.wfile.flush()
            except OSError:
                pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Big.stop.clear()
    with serve_http(Big) as base:
        yield base
    Big.stop.set()


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # the process's peak resident set
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def test_includes_of_900_mb_stop_at_the_budget_and_keep_the_previous_copy(
    tmp_path: Path, server: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"default_lists: false\nlists:\n  - {{name: big, url: '{server}/list.txt'}}\n")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    copy = tmp_path / "data" / "pixelguard" / "lists" / "big.txt"
    copy.parent.mkdir(parents=True)
    previous = b"[Adblock Plus 2.0]\n! Title: Many includes\n||kept.example^\n"
    copy.write_bytes(previous)
    proc = subprocess.Popen([sys.executable, "-m", "pixelguard", "--config", str(config), "lists", "update", "--force"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _peak_rss_mb(proc.pid))
        time.sleep(0.05)
    out, err = proc.communicate()
    print(f"\nincludes of {16 * INCLUDE_MB} MB: stopped with a peak RSS of {peak:.0f} MB")
    assert proc.returncode == 1, out + err
    assert "MB with its included files: not a filter list; kept the previous copy" in out
    assert copy.read_bytes() == previous  # byte for byte
    assert not (copy.parent / "big.include").exists() or not any((copy.parent / "big.include").iterdir())
    assert peak < 300


def test_a_server_sending_a_byte_a_second_is_given_up_on_at_the_deadline(tmp_path: Path, server: str) -> None:
    spec = ListSpec("slow", tmp_path / "slow.txt", url=f"{server}/trickle.txt")
    spec.file.write_bytes(b"[Adblock Plus 2.0]\n||kept.example^\n")
    started = time.monotonic()
    result = update.update_list(spec, force=True, timeout=30, deadline=3)
    took = time.monotonic() - started
    assert result.status == update.FAILED and "gave up" in result.message, result.message
    assert took < 3 + 5, f"{took:.1f} s against a 3 s deadline"
    assert spec.file.read_bytes() == b"[Adblock Plus 2.0]\n||kept.example^\n"
