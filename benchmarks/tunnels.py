"""Tunnel benchmark (issue 25): each proxy's CPU per HTTPS connection, by what the connection does, pixelguard
against plain mitmdump in the same run.

On the HTTPS page-load benchmark the client opens about one tunnel per request, and a tunnel costs a proxy more
than the request it carries. This one takes a tunnel apart, one kind of connection at a time, each made one after
another by a single client so that nothing else the proxy does is counted:

  refused    a CONNECT to a host the lists block whole (pixelguard answers 403 without a handshake; mitmdump
             opens the tunnel, and the client closes it unused)
  handshake  a CONNECT and a TLS handshake, resumed as a browser's later connections to a host are, then a close
  passed     a CONNECT, a handshake and one request the lists pass: the proxy connects to the server and relays
             the answer (pixelguard resumes the TLS session it keeps for the page's site; mitmdump never resumes)
  blocked    a CONNECT, a handshake and one request the lists block by its path, not its host (pixelguard answers
             it; mitmdump passes it on)
  kept       one more passed request on a tunnel already open, over the server connection its first one opened

A round makes COUNT connections of each kind through every proxy, the proxies taking turns connection by connection
(the machine's changes of speed fall on all of them alike), and reads each proxy's CPU time before and after from
the scheduler's per-thread counts (nanoseconds; /proc/PID/stat counts 10 ms ticks). The figures are the median
over the rounds, the ratio pixelguard / mitmdump taken within each round. ``--baseline DIR`` adds the pixelguard
of another checkout (a git worktree of the commit before a change), with the same configuration: a change's cost
or gain per kind of connection, undiluted by the rest of a page load.

The servers are the page-load benchmark's simulated internet (benchmarks/pageload_https.py) on 127.0.0.1, using
only host names it answers at once; nothing leaves the machine. ``scripts/bench-tunnels [--rounds N] [--count N]
[--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.lists import SHARED
from benchmarks.pageload import config_text, count, host_delay
from benchmarks.pageload_https import (
    _CA,
    RESOLVE_LOCAL,
    _serve_internet,
    _Tls,
    baseline_checkout,
    baseline_setup,
    start_proxies,
)
from benchmarks.proxy import (
    ca_certs,
    isolated_env,
    remove_run_dir,
    stop,
    wait_listen,
)

ORIGIN_BODY = b"x" * 1024  # what the simulated internet answers (benchmarks/pageload.py, _Internet)
KINDS = ("refused", "handshake", "passed", "blocked", "kept")
SITES = 8  # hosts the passed and resumed connections go round, each with its own resumed session
# Tracker hosts the lists block whole (among the most requested such hosts of ../shared's page loads), and request
# paths they block on any host, tried in turn: the first the engine confirms is used, as the lists change.
TRACKERS = ("beacon.krxd.net", "bcp.crwdcntrl.net", "dpm.demdex.net", "tags.bluekai.com", "ml314.com")
BLOCKED_PATHS = ("/pixel.gif?uid=1", "/collect?v=1&tid=UA-1", "/piwik.js", "/matomo.js")


def _cpu_ns(pid: int) -> tuple[frozenset[str], int]:
    """A process's threads and the CPU time they have run, in nanoseconds (the scheduler's own count, where
    /proc/PID/stat counts in ticks of 10 ms: a tenth of a kind's whole cost in a round of 100 refused tunnels)."""
    tasks = Path(f"/proc/{pid}/task")
    threads = frozenset(os.listdir(tasks))
    total = 0
    for t in threads:
        try:
            total += int((tasks / t / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # ended meanwhile: the caller sees the thread set change
    return threads, total


def _instant_hosts(n: int) -> list[str]:
    """Host names the simulated internet answers without its per-host delay, so a run is not spent waiting."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        name = f"site{i}.tunnels.example"
        if host_delay(name) == 0:
            out.append(name)
        i += 1
    return out


def _targets(sites: list[str]) -> tuple[str, str]:
    """A tracker host the lists block whole, and a path they block on the first site but not by its host."""
    from pixelguard.engine import Engine

    filters = SHARED / "filterlists"
    engine = Engine.from_files([filters / "easylist.txt", filters / "easyprivacy.txt"])
    tracker = next((h for h in TRACKERS if engine.blocks_whole_host(h).blocked), None)
    page = f"https://{sites[0]}/"
    path = next(
        (p for p in BLOCKED_PATHS if engine.check(f"https://{sites[0]}{p}", page, None).blocked), None
    )
    if tracker is None or path is None:
        raise SystemExit(
            "bench-tunnels: EasyList and EasyPrivacy no longer block any of the benchmark's targets"
        )
    return tracker, path


class _Client:
    """One client of one proxy: a connection at a time, each TLS session kept per host and offered again."""

    def __init__(self, port: int, context: ssl.SSLContext):
        self.port, self.context = port, context
        self.sessions: dict[str, ssl.SSLSession] = {}

    def tunnel(self, host: str) -> _Tls:
        conn = _Tls("127.0.0.1", self.port, timeout=30, context=self.context)
        conn.set_tunnel(host, 443)
        conn.session = self.sessions.get(host)
        return conn

    def get(self, conn: _Tls, host: str, path: str, page: str) -> int:
        return self.fetch(conn, host, path, page)[0]

    def fetch(self, conn: _Tls, host: str, path: str, page: str) -> tuple[int, bytes]:
        conn.request("GET", path, headers={"Host": host, "Accept": "*/*", "Referer": page})
        response = conn.getresponse()
        body = response.read()
        if isinstance(conn.sock, ssl.SSLSocket) and conn.sock.session is not None:
            self.sessions[host] = conn.sock.session
        return response.status, body

    def refused(self, host: str) -> bool:
        """CONNECT alone: True when the proxy refused it. A tunnel it opens is closed unused."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
        return not head.startswith(b"HTTP/1.1 2")


class _Connections:
    """One client's connections of one kind, one at a time (``kept``: requests on one tunnel, opened here)."""

    def __init__(self, kind: str, client: _Client, sites: list[str], tracker: str, path: str):
        self.kind, self.client, self.sites, self.tracker, self.path = kind, client, sites, tracker, path
        self.made = 0
        self.kept = None
        if (
            kind == "kept"
        ):  # the tunnel, its handshakes and its server connection, before the round is measured
            self.kept = client.tunnel(sites[0])
            self._passed(client.get(self.kept, sites[0], "/image.png", f"https://{sites[0]}/"))

    def one(self) -> None:
        client, kind = self.client, self.kind
        host = self.sites[self.made % len(self.sites)]
        self.made += 1
        if kind == "refused":
            client.refused(self.tracker)
            return
        if self.kept is not None:
            self._passed(client.get(self.kept, self.sites[0], "/image.png", f"https://{self.sites[0]}/"))
            return
        conn = client.tunnel(host)
        try:
            if kind == "handshake":
                conn.connect()
                if isinstance(conn.sock, ssl.SSLSocket) and conn.sock.session is not None:
                    client.sessions[host] = conn.sock.session
            elif kind == "blocked":
                client.get(conn, host, self.path, f"https://{host}/")
            else:
                self._passed(client.get(conn, host, "/image.png", f"https://{host}/"))
        finally:
            conn.close()

    def _passed(self, status: int) -> None:
        if status != 200:
            raise SystemExit(f"bench-tunnels: a passed request through port {self.client.port} got {status}")

    def close(self) -> None:
        if self.kept is not None:
            self.kept.close()


def _round(
    kind: str,
    clients: dict[str, _Client],
    pids: dict[str, int],
    n: int,
    sites: list[str],
    tracker: str,
    path: str,
) -> dict[str, float]:
    """n connections of one kind through each proxy, the proxies taking turns connection by connection (so that
    the machine's changes of speed fall on all of them alike): each one's CPU per connection, in seconds. A
    proxy's work after a client is done with it (a close, a write to its log) still falls within the round."""
    conns = {name: _Connections(kind, c, sites, tracker, path) for name, c in clients.items()}
    before = {name: _cpu_ns(pid) for name, pid in pids.items()}
    for _ in range(n):
        for c in conns.values():
            c.one()
    for c in conns.values():
        c.close()
    out = {}
    for name, pid in pids.items():
        threads, after = _cpu_ns(pid)
        if threads != before[name][0]:  # a thread came or went, with CPU time this count cannot see
            raise SystemExit(f"bench-tunnels: {name}'s threads changed during a round")
        out[name] = (after - before[name][1]) / 1e9 / n
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=count, default=5, metavar="N", help="rounds (default %(default)s)")
    ap.add_argument(
        "--count",
        type=count,
        default=200,
        metavar="N",
        help="connections per kind, proxy and round (default %(default)s)",
    )
    ap.add_argument(
        "--baseline",
        type=baseline_checkout,
        metavar="DIR",
        help="also run the pixelguard of another checkout (e.g. a git worktree of the commit before a change)",
    )
    args = ap.parse_args(argv)
    if args.count > 900:
        ap.error("--count is at most 900 (pixelguard closes a client connection after 1,000 requests)")
    if not (SHARED / "filterlists" / "easyprivacy.txt").is_file():
        print("bench-tunnels: ../shared/filterlists is missing")
        return 1
    _measure(args)
    return 0


def _measure(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pg-tunnels-"))
    sites = _instant_hosts(SITES)
    tracker, blocked_path = _targets(sites)
    ca = _CA(tmp, {*sites, tracker})
    internet = _serve_internet(ca)
    script = tmp / "resolve_local.py"
    script.write_text(RESOLVE_LOCAL)
    base_cfg = config_text(tmp)
    (tmp / "config.yaml").write_text(base_cfg)
    env = isolated_env(
        tmp, PG_BENCH_ORIGIN=str(internet.server_address[1]), PG_BENCH_RTT="", PG_BENCH_DNS_MS="",
        PG_BENCH_LOOKUPS=str(tmp),
    )  # fmt: skip
    setups = {"pixelguard": (tmp / "config.yaml", env)}
    if args.baseline:
        setups["pixelguard, baseline"] = baseline_setup(tmp, base_cfg, env, args.baseline)
    ports, procs = start_proxies(tmp, script, ca.pem, env, setups)
    try:
        for name, p in procs.items():
            wait_listen(ports[name], p, name)
        context = ssl.create_default_context(cafile=str(ca.pem))
        for pem in ca_certs(tmp).values():
            context.load_verify_locations(cafile=str(pem))
        clients = {n: _Client(ports[n], context) for n in procs}
        pids = {n: p.pid for n, p in procs.items()}
        for kind in KINDS:  # warm-up: engines' first checks, forged certificates, sessions
            _round(kind, clients, pids, 2 * SITES, sites, tracker, blocked_path)
        for name, client in clients.items():
            if name == "mitmdump":
                continue
            if not client.refused(tracker):
                raise SystemExit(f"bench-tunnels: {name} did not refuse the tunnel to {tracker}")
            conn = client.tunnel(sites[0])
            if client.fetch(conn, sites[0], blocked_path, f"https://{sites[0]}/")[1] == ORIGIN_BODY:
                raise SystemExit(f"bench-tunnels: {name} passed {blocked_path} to the server")
            conn.close()
        cpu: dict[str, dict[str, list[float]]] = {k: {n: [] for n in procs} for k in KINDS}
        for _ in range(args.rounds):
            for kind in KINDS:
                for name, seconds in _round(
                    kind, clients, pids, args.count, sites, tracker, blocked_path
                ).items():
                    cpu[kind][name].append(seconds)
        print(_report(cpu, args, tracker, blocked_path))
    finally:
        stop(procs.values())
        internet.shutdown()
        remove_run_dir(tmp)


def _report(cpu: dict[str, dict[str, list[float]]], args: argparse.Namespace, tracker: str, path: str) -> str:
    """Each kind's median CPU per connection for each proxy, and each pixelguard's ratio to mitmdump's."""
    lines = [
        f"proxy CPU per connection, median of {args.rounds} round{'s' * (args.rounds != 1)} of {args.count} "
        "(ratio: within each round, median (lowest to highest)); "
        f"refused: CONNECT to {tracker}; blocked: {path}"
    ]
    for kind in KINDS:
        row = cpu[kind]
        cells = [f"mitmdump {statistics.median(row['mitmdump']) * 1000:5.2f} ms"]
        for name, values in row.items():
            if name == "mitmdump":
                continue
            ratios = [v / m for v, m in zip(values, row["mitmdump"], strict=True) if m > 0]
            spread = (
                f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else "n/a"
            )
            cells.append(f"{name} {statistics.median(values) * 1000:5.2f} ms, {spread}")
        lines.append(f"  {kind:10s} " + "   ".join(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
