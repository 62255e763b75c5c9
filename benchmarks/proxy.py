"""Proxy benchmark: the same workload through plain mitmdump and through pixelguard (EasyList + EasyPrivacy from
../shared/filterlists), alternating rounds in one run. Prints throughput, latency and the ratios.

``--baseline DIR`` also runs the pixelguard of another checkout (for example the commit before a change,
``git worktree add /tmp/before COMMIT``) with the same Python, so that a change is measured against what it
replaced, in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "filterlists"
BODY = os.urandom(2048)


class _Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, each response would wait for the
    # client's delayed ACK (40 ms), and every proxy would measure the same stall instead of itself.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *a: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listen(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench-proxy: {what} exited")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"bench-proxy: {what} did not start")


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment for the proxies a benchmark starts: data, cache, config and CA all under ``tmp``, so a
    benchmark neither reads nor touches the user's own pixelguard, and no list update is fetched. The run's
    pixelguard CA is made here, before any proxy starts: the run's pixelguards share it and start at once (a
    ``--baseline`` checkout's too, which may make its CA without the lock ``trust.ensure_ca`` now takes)."""
    from pixelguard.trust import ensure_ca

    ensure_ca(ca_certs(tmp)["pixelguard"].parent)
    return dict(
        os.environ,
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        PIXELGUARD_CONFDIR=str(ca_certs(tmp)["pixelguard"].parent),
        PIXELGUARD_NO_UPDATES="1",
        **extra,
    )


def remove_run_dir(tmp: Path) -> None:
    """Delete a run's temporary directory: its CA keys and databases. Nothing a run prints points into it, and
    each run makes another (``--runs N`` would leave N)."""
    shutil.rmtree(tmp, ignore_errors=True)


def ca_certs(tmp: Path) -> dict[str, Path]:
    """Each proxy's CA certificate, by proxy: each has its own, as a new install of each makes one (mitmdump's
    RSA, pixelguard's ECDSA: trust.ensure_ca). Sharing one confdir, whichever proxy started first made the CA
    both used. Every pixelguard of a run shares its one, as workers of one install would."""
    return {
        "mitmdump": tmp / "mitmdump" / "mitmproxy-ca-cert.pem",
        "pixelguard": tmp / "mitm" / "mitmproxy-ca-cert.pem",
    }


def mitmdump_cmd(port: int, tmp: Path, *extra: str) -> list[str]:
    """Plain mitmdump on 127.0.0.1:port, the peer pixelguard is measured against, with a CA of its own
    (``ca_certs``)."""
    return [
        str(Path(sys.executable).with_name("mitmdump")), "-q", "--listen-host", "127.0.0.1",
        "--listen-port", str(port), "--set", f"confdir={ca_certs(tmp)['mitmdump'].parent}", "--set", "connection_strategy=lazy",
        *extra,
    ]  # fmt: skip


def stop(procs: Iterable[subprocess.Popen]) -> None:
    """Stop every proxy a benchmark started: all asked at once, then each waited for (killed after 15 s)."""
    procs = list(procs)
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def drive(
    port: int, urls: list[str], clients: int, expect_blocked: bool = False
) -> tuple[float, list[float], int]:
    lat: list[float] = []
    errors = [0]

    def worker(chunk: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for u in chunk:
            s = time.perf_counter()
            try:
                conn.request("GET", u, headers={"Accept": "image/*", "Referer": "https://news.example/"})
                r = conn.getresponse()
                r.read()
                if r.status not in (200, 204) or (
                    expect_blocked and r.getheader("X-Pixelguard") != "blocked"
                ):
                    errors[0] += 1
            except Exception:
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            lat.append(time.perf_counter() - s)
        conn.close()

    threads = [threading.Thread(target=worker, args=(urls[i::clients],)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(urls) / (time.perf_counter() - start), lat, errors[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000, help="requests per round (default %(default)s)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default %(default)s)")
    ap.add_argument("--baseline", type=Path, help="another checkout whose pixelguard to measure as well")
    args = ap.parse_args(argv)
    if not (SHARED / "easylist.txt").is_file():
        print(f"bench-proxy: {SHARED}/easylist.txt not found (EasyList + EasyPrivacy are loaded from there)")
        return 1
    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    origin.daemon_threads = True
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    oport = origin.server_address[1]

    tmp = Path(tempfile.mkdtemp(prefix="pg-bench-"))
    env = isolated_env(tmp)
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"database: {tmp}/pg.db\nuser_list: {tmp}/user.txt\nlearned_list: {tmp}/learned.txt\nlists:\n"
        f"  - {{name: easylist, path: {SHARED.resolve()}/easylist.txt}}\n"
        f"  - {{name: easyprivacy, path: {SHARED.resolve()}/easyprivacy.txt}}\n"
    )
    py = sys.executable
    ports = {"mitmdump": free_port(), "pixelguard": free_port()}
    cmds = {
        "mitmdump": mitmdump_cmd(ports["mitmdump"], tmp),
        "pixelguard": [py, "-m", "pixelguard", "--config", str(cfg), "run", "--port", str(ports["pixelguard"])],
    }  # fmt: skip
    envs = {"mitmdump": env, "pixelguard": env}
    if args.baseline:
        ports["baseline"] = free_port()
        cmds["baseline"] = [
            py,
            "-m",
            "pixelguard",
            "--config",
            str(cfg),
            "run",
            "--port",
            str(ports["baseline"]),
        ]
        envs["baseline"] = dict(env, PYTHONPATH=str(args.baseline.resolve()))
    procs = {
        name: subprocess.Popen(
            cmd,
            env=envs[name],
            cwd=args.baseline if name == "baseline" else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        for name, cmd in cmds.items()
    }
    try:
        t0 = time.monotonic()
        for name, p in procs.items():
            wait_listen(ports[name], p, name)
        print(f"proxies up in {time.monotonic() - t0:.1f}s (pixelguard compiled EasyList + EasyPrivacy)")
        n, k = args.requests, args.clients
        passing = [
            f"http://127.0.0.1:{oport}/static/photos/2026/{i % 97}/holiday-{i}.jpg?w=640" for i in range(n)
        ]
        blocked = [f"http://www.google-analytics.com/collect?v=1&tid=UA-{i}-1&t=pageview" for i in range(n)]
        if drive(ports["pixelguard"], blocked[:1], k, expect_blocked=True)[2]:
            print("bench-proxy: the tracker URL was not blocked; refusing to send the blocked workload")
            return 1
        workloads = [(f"{name} pass", port, passing, False) for name, port in ports.items()]
        workloads.append(("pixelguard blocked", ports["pixelguard"], blocked, True))
        for _, port, urls, exp in workloads:  # warm-up: connections, caches
            drive(port, urls[:200], k, exp)
        res: dict[str, list[tuple[float, list[float], int]]] = {w[0]: [] for w in workloads}
        for r in range(args.rounds):
            order = workloads if r % 2 == 0 else workloads[::-1]
            for name, port, urls, exp in order:
                res[name].append(drive(port, urls, k, exp))
        print(f"{n} requests x {args.rounds} rounds, {k} concurrent clients, origin 127.0.0.1 (2 KB bodies)")
        summary = {}
        for name, runs in res.items():
            rps = statistics.median(x[0] for x in runs)
            lat = sorted(v for x in runs for v in x[1])
            med, p95 = statistics.median(lat) * 1000, lat[int(len(lat) * 0.95)] * 1000
            summary[name] = (rps, med, p95)
            errs = sum(x[2] for x in runs)
            print(
                f"  {name:20s} {rps:8.0f} req/s   latency median {med:6.2f} ms   p95 {p95:6.2f} ms   errors {errs}"
            )
        ratio = summary["pixelguard pass"][0] / summary["mitmdump pass"][0]
        print(f"pass-through throughput pixelguard / mitmdump: {ratio:.2f}x (target >= 0.90)")
        if args.baseline:
            base = summary["pixelguard pass"][0] / summary["baseline pass"][0]
            print(
                f"pass-through throughput pixelguard / baseline ({args.baseline}): {base:.2f}x (target >= 0.95)"
            )
        faster = summary["pixelguard blocked"][1] < summary["pixelguard pass"][1]
        print(
            f"blocked answered faster than passed: {'yes' if faster else 'NO'} "
            f"({summary['pixelguard blocked'][1]:.2f} ms vs {summary['pixelguard pass'][1]:.2f} ms median)"
        )
    finally:
        stop(procs.values())
        remove_run_dir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
