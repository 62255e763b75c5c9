"""The combined `pixelguard` (proxy and UI in one process) in a real pseudo-terminal at 80x24, as a person runs it:
what it draws when the proxy inside it stops, and how it exits."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time
from pathlib import Path

from harness import REPO, free_port

ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=]*[a-zA-Z~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]")


def run_in_terminal(tmp_path: Path, until: bytes, timeout: float = 60) -> tuple[int, bytes]:
    """Start `pixelguard` in a pty, wait until ``until`` is on screen, press q; (exit code, all it printed)."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'pg.db'}\nuser_list: {tmp_path / 'user.txt'}\n"
        f"learned_list: {tmp_path / 'learned.txt'}\ndefault_lists: false\nlists: []\n"
    )
    env = dict(
        os.environ,
        TERM="xterm-256color",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PIXELGUARD_CONFDIR=str(tmp_path / "mitmproxy"),
    )
    argv = [sys.executable, "-m", "pixelguard", "--config", str(config), "--port", str(free_port())]
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes pixelguard on the pty
        os.chdir(REPO)
        os.execve(sys.executable, argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    out, pressed = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # the child closed the terminal: it exited
                    break
                if not data:
                    break
                out += data
            if not pressed and until in ESCAPES.sub(b"", out):
                os.write(fd, b"q")
                pressed = True
    finally:
        if not pressed:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert pressed, f"never drew {until!r}:\n{ESCAPES.sub(b'', out)[-2000:]!r}"
    return os.waitstatus_to_exitcode(status), ESCAPES.sub(b"", out)


def test_a_damaged_database_stops_the_proxy_the_header_says_so_and_quitting_exits_1(tmp_path: Path) -> None:
    (tmp_path / "pg.db").write_bytes(b"not a database at all " * 300)
    code, shown = run_in_terminal(tmp_path, b"proxy stopped")
    assert code == 1
    tail = shown[shown.rfind(b"pixelguard: the proxy had stopped") :].decode(errors="replace")
    assert "is not a pixelguard database or is corrupt" in tail and f"mv {tmp_path / 'pg.db'}" in tail


def test_quitting_a_healthy_proxy_says_it_stopped_and_exits_0(tmp_path: Path) -> None:
    code, shown = run_in_terminal(tmp_path, b"stopped today")  # the header, drawn once the proxy runs
    assert code == 0 and b"pixelguard: stopped" in shown
