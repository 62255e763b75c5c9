"""`pixelguard run --workers 2`, real processes: both serve one port and write one log; a worker that dies is
started again while the other serves; the helpers go when the parent goes, however it goes."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Origin, Proxy, wait_for

from pixelguard.proxy.responses import TRANSPARENT_GIF

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="--workers needs Linux (SO_REUSEPORT)"),
]

LIST = "/track/*\n"
CONNECTIONS = 32  # kept open at once: by the kernel's hash, all of them on one worker has odds of 2^-31


def helper_pids(proxy: Proxy) -> list[int]:
    """Helpers that said they listen, in order (a restarted one appears again with its new pid)."""
    return [int(m) for m in re.findall(r"worker 1 listening on \S+ \(pid (\d+)\)", proxy.log())]


def start(make_proxy: Callable[..., Proxy]) -> tuple[Proxy, int]:
    p = make_proxy({"t": LIST}, "--workers", "2")
    pids = wait_for(lambda: helper_pids(p), what="worker 1 to listen")
    return p, pids[0]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of the parent not yet reaped shows as a zombie until then: it no longer serves.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


def listening(port: int) -> int:
    """Sockets listening on port (IPv4, /proc/net/tcp: state 0A is LISTEN)."""
    rows = (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
    return sum(1 for f in rows if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port)


def owners(port: int, client_ports: set[int], pids: list[int]) -> dict[int, int]:
    """client port -> the pid whose accepted socket serves it, read from /proc (net/tcp and each pid's fds)."""
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == port and int(remote.rsplit(":", 1)[1], 16) in client_ports:
                inodes[inode] = int(remote.rsplit(":", 1)[1], 16)
    found: dict[int, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                found[inodes[target[8:-1]]] = pid
    return found


def get(conn: http.client.HTTPConnection, url: str) -> tuple[int, bytes]:
    conn.request("GET", url)
    r = conn.getresponse()
    return r.status, r.read()


def test_two_workers_serve_one_port_and_write_one_log(
    make_proxy: Callable[..., Proxy], origin: Origin
) -> None:
    p, helper = start(make_proxy)
    info = json.loads((p.data_dir / "proxy.json").read_text())
    assert info["workers"] == 2 and info["pid"] == p.proc.pid
    assert listening(p.port) == 2  # one socket each, in one SO_REUSEPORT group
    doctor = p.cli("doctor")
    assert f"listening on 127.0.0.1:{p.port} (pid {p.proc.pid}, 2 worker processes)" in doctor.stdout, doctor
    origin.serve("/ok/workers", b"passed", "text/plain")
    conns = [http.client.HTTPConnection("127.0.0.1", p.port, timeout=10) for _ in range(CONNECTIONS)]
    try:
        for c in conns:
            assert get(c, origin.url("/ok/workers")) == (200, b"passed")
        ports = {c.sock.getsockname()[1] for c in conns}
        served = wait_for(
            lambda: o if len(o := owners(p.port, ports, [p.proc.pid, helper])) == CONNECTIONS else None,
            what="every connection's accepted socket in /proc",
        )
        assert set(served.values()) == {p.proc.pid, helper}, "one worker took every connection"
        # Each connection then has a request blocked: the events of both workers land in the one database.
        for i, c in enumerate(conns):
            assert get(c, origin.url(f"/track/w{i}.gif")) == (200, TRANSPARENT_GIF)
    finally:
        for c in conns:
            c.close()
    wait_for(lambda: len(p.events(action="blocked")) == CONNECTIONS, what=f"{CONNECTIONS} blocked events")
    assert origin.hits["/ok/workers"] == CONNECTIONS
    # Over HTTPS too: every worker forges with the one CA the client trusts (a tunnel and handshake each).
    for _ in range(8):
        r = p.get(origin.url("/ok/workers", https=True))
        assert (r.status, r.body) == (200, b"passed")
    assert p.stop() == 0, p.log()
    assert not alive(helper), "the helper outlived a clean stop"
    assert not (p.data_dir / "proxy.json").exists()
    assert "worker 1" not in p.log().split("worker 1 listening", 1)[1], p.log()  # no restart, no warning


def test_a_worker_that_dies_is_started_again_while_the_other_serves(
    make_proxy: Callable[..., Proxy], origin: Origin
) -> None:
    p, helper = start(make_proxy)
    origin.serve("/ok/again", b"still", "text/plain")
    os.kill(helper, signal.SIGKILL)
    # Once its listening socket is gone (the kernel closes it shortly after the process: connections it queued
    # for it until then are reset, as README says), every new connection is the parent's: none fails, none
    # waits for the helper.
    wait_for(lambda: listening(p.port) == 1, what="the killed helper's socket to leave the port")
    for _ in range(CONNECTIONS):
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
        try:
            assert get(c, origin.url("/ok/again")) == (200, b"still")
        finally:
            c.close()
    pids = wait_for(lambda: h if len(h := helper_pids(p)) == 2 else None, what="worker 1 started again")
    assert pids[1] != helper and alive(pids[1])
    assert f"worker 1 (pid {helper}) stopped (killed by signal 9)" in p.log()
    assert p.stop() == 0, p.log()
    assert not alive(pids[1])


def test_helpers_stop_when_the_parent_is_killed(make_proxy: Callable[..., Proxy]) -> None:
    p, helper = start(make_proxy)
    os.kill(p.proc.pid, signal.SIGKILL)  # no clean-up runs in the parent: only the pipe's end of file tells
    p.proc.wait(timeout=10)
    wait_for(lambda: not alive(helper), what="the helper to stop after its parent was killed")


def test_workers_refuse_another_mitmproxy_mode(make_proxy: Callable[..., Proxy]) -> None:
    with pytest.raises(AssertionError) as failed:
        make_proxy({"t": LIST}, "--workers", "2", "--set", "mode=socks5")
    assert "--set mode=... serves one process only" in str(failed.value)
    assert "Traceback" not in str(failed.value)


def test_a_stop_that_signals_every_worker_starts_none_again(make_proxy: Callable[..., Proxy]) -> None:
    # systemd's stop signals every process of the service, Ctrl-C every process of the terminal's group: the
    # helpers' exits are then the stop, not a failure to start them again for, and everyone exits cleanly. (Which
    # of the parent's two guards, the signal marking the helpers as stopping or the stop cancelling their
    # keepers, catches a helper's exit depends on which process is quicker; either must hold.)
    p, helper = start(make_proxy)
    os.kill(helper, signal.SIGTERM)
    os.kill(p.proc.pid, signal.SIGTERM)
    assert p.proc.wait(timeout=30) == 0, p.log()
    assert "stopped (" not in p.log() and len(helper_pids(p)) == 1, p.log()
    assert not alive(helper)
