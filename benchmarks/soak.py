"""Soak: 200,000 mixed requests through a real `pixelguard run` on 127.0.0.1, its RSS sampled every 10,000.

``scripts/bench-soak [--https] [--requests N] [--workers N] [--tracemalloc]``. The mix, over thousands of host names (all
routed to a local origin by a mitmproxy script, nothing leaves the machine): tracker requests the lists block,
images that pass, 1x1 pixels that are replaced, URLs with tracking parameters that are cleaned, and requests
with a body. After a warm-up (caches filling to their bounds), the RSS should stay flat; the benchmark prints
the samples, the spread after the first fifth and over the second half (the per-host caches take about half of
this mix to fill: it names 291,000 hosts). ``--tracemalloc`` starts the proxy with a probe that
writes the biggest growth in allocation sites at each sample, to find where memory goes.

``--https`` sends the same mix over HTTPS, as a browser does: a CONNECT and a TLS handshake per request (the mix
rarely names a host twice in a row), so that what the proxy keeps per TLS host (forged certificates, their
converted forms, sessions with servers) fills to its bounds and is then replaced; the origins present one
certificate for the mix's domains, signed by a CA of the run that the proxy is told to trust. Tunnels to the
trackers are refused (blocked whole); those count as blocked, not as errors. Besides the RSS it prints each
segment's requests per second, which should stay level once the bounds are reached.

Not a test: minutes of traffic. Loopback only, and it stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ORIGINS = 128  # origin servers, each on its own port: mitmproxy opens at most 5 connections to one address

# Every upstream connection goes to one of the local origins, chosen by the request's host (nothing leaves the
# machine; a host always lands on the same origin, as a real host has its own address).
RESOLVER = """
import os, zlib
from mitmproxy.proxy import server_hooks
PORTS = [int(p) for p in os.environ["SOAK_ORIGIN_PORTS"].split(",")]
def server_connect(data: server_hooks.ServerConnectionHookData) -> None:
    if data.server.address:
        host = str(data.server.address[0])
        data.server.address = ("127.0.0.1", PORTS[zlib.crc32(host.encode()) % len(PORTS)])
"""


def _png(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * 3 * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip


PIXEL = _png(1, 1)
IMAGE = _png(40, 30)


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 2  # an idle keep-alive connection is closed, as real servers close theirs

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body, ctype = (PIXEL, "image/png") if self.path.startswith("/px/") else (IMAGE, "image/png")
        if self.path.startswith("/api"):
            body, ctype = b'{"ok": true}', "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *a: object) -> None:
        pass


PROBE = """
import os, tracemalloc, signal, linecache
tracemalloc.start(8)
_first = [None]
def _snap(*_):
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
                                                      tracemalloc.Filter(False, tracemalloc.__file__)])
    out = open(os.environ["SOAK_PROBE_OUT"], "a")
    if _first[0] is None:
        _first[0] = snap
        out.write("--- first snapshot\\n")
    else:
        out.write("--- growth since the first snapshot\\n")
        for s in snap.compare_to(_first[0], "lineno")[:12]:
            out.write(f"{s}\\n")
    out.close()
signal.signal(signal.SIGUSR1, _snap)
"""


def request_plan(i: int) -> tuple[str, str, dict[str, str], bytes]:
    """(method, url, headers, body) of the i-th request: the mix described above, over many host names."""
    n = i % 20
    host = f"h{i % 3000}.soak-site{i % 97}.example"
    page = {"Referer": f"https://site{i % 50}.example/page"}
    if n < 5:
        return (
            "GET",
            f"http://tracker{i % 500}.soak-tracker.example/p.gif?id={i}",
            {"Accept": "image/*", **page},
            b"",
        )
    if n < 12:
        return "GET", f"http://{host}/img/{i}.png", {"Accept": "image/*", **page}, b""
    if n < 15:
        return "GET", f"http://{host}/px/open.png?u={i}", {"Accept": "image/*", **page}, b""
    if n < 18:
        return (
            "GET",
            f"http://{host}/api/items?id={i}&fbclid=IwAR{i}",
            {"Sec-Fetch-Dest": "empty", **page},
            b"",
        )
    return (
        "POST",
        f"http://{host}/api/collect",
        {"Content-Type": "application/json", **page},
        b'{"event":"view","n":' + str(i).encode() + b"}",
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--https", action="store_true", help="over HTTPS, a tunnel per request (see above)")
    ap.add_argument("--requests", type=int, help="default 200,000; 40,000 with --https")
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument(
        "--tracemalloc", action="store_true", help="write the biggest allocation growth at each sample"
    )
    args = ap.parse_args()
    if args.requests is None:
        args.requests = 40_000 if args.https else 200_000

    tmp = Path(tempfile.mkdtemp(prefix="pixelguard-soak-"))
    origin_tls = _origin_tls(tmp) if args.https else None
    servers = []
    for _ in range(ORIGINS):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
        server.daemon_threads = True
        if origin_tls is not None:
            server.socket = origin_tls[1].wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    (tmp / "resolver.py").write_text(RESOLVER)
    (tmp / "lists").mkdir()
    (tmp / "lists" / "soak.txt").write_text("||soak-tracker.example^\n$removeparam=fbclid\n")
    (tmp / "config.yaml").write_text(
        "database: soak.db\nuser_list: user.txt\nlearned_list: learned.txt\ndefault_lists: false\n"
        "lists:\n  - {name: soak, path: lists/soak.txt}\n  - {name: pixelguard-ads, path: bundled}\n"
        "pixels: {learn_after: 1000}\nidentity: {emails: [soak.user@example.com]}\n"
    )
    port = _free_port()
    scripts = [str(tmp / "resolver.py")]
    env = {**os.environ, "PIXELGUARD_NO_UPDATES": "1", "PIXELGUARD_NO_CNAME": "1", "XDG_DATA_HOME": str(tmp / "data"),
           "XDG_CACHE_HOME": str(tmp / "cache"), "PIXELGUARD_CONFDIR": str(tmp / "confdir"),
           "SOAK_ORIGIN_PORTS": ",".join(str(s.server_address[1]) for s in servers)}  # fmt: skip
    if args.tracemalloc:
        probe = tmp / "probe.py"
        probe.write_text(PROBE)
        scripts.append(str(probe))
        env["SOAK_PROBE_OUT"] = str(tmp / "tracemalloc.txt")
    cmd = [
        sys.executable,
        "-m",
        "pixelguard",
        "--config",
        str(tmp / "config.yaml"),
        "run",
        "--port",
        str(port),
    ]
    for s in scripts:
        cmd += ["--set", f"scripts={s}"]
    if origin_tls is not None:
        cmd += ["--set", f"ssl_verify_upstream_trusted_ca={origin_tls[0]}"]
    log = open(tmp / "proxy-output.txt", "w")  # noqa: SIM115 (the proxy writes it until it is stopped below)
    proxy = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(port, proxy)
        samples = _run(args, port, proxy, tmp)
    finally:
        proxy.terminate()
        proxy.wait(30)
        for server in servers:
            server.shutdown()
    warm = len(samples) // 5
    after = [mb for _, mb, _ in samples[warm:]]
    scheme = "HTTPS, a tunnel each" if args.https else "HTTP"
    print(f"\n{args.requests:,} requests through pixelguard over {scheme} ({args.workers} clients, loopback)")
    print("requests  RSS MB  requests/s in the segment before")
    for (n, mb, at), (n0, _, at0) in zip(samples, [samples[0], *samples], strict=False):
        rate = f"{(n - n0) / (at - at0):8,.0f}" if at > at0 else ""
        print(f"{n:>8,}  {mb:6.1f}  {rate}")
    print(f"after warm-up ({samples[warm][0]:,} requests on): RSS {min(after):.1f} to {max(after):.1f} MB, "
          f"spread {max(after) - min(after):.1f} MB (budget 10 MB)")  # fmt: skip
    # The per-host caches fill to their bounds (limits.py: DOMAIN_CACHE, the learner's hosts) over the first half
    # of this mix's 291,000 host names: what the second half adds is what a bound would not hold.
    half = [mb for _, mb, _ in samples[len(samples) // 2 :]]
    print(f"second half ({samples[len(samples) // 2][0]:,} requests on): RSS {min(half):.1f} to {max(half):.1f} MB, "
          f"spread {max(half) - min(half):.1f} MB")  # fmt: skip
    if args.tracemalloc:
        print(f"allocation growth per sample: {tmp / 'tracemalloc.txt'}")


def _origin_tls(tmp: Path) -> tuple[Path, ssl.SSLContext]:
    """The origins' CA (for the proxy to trust) and their server context: one certificate for every host of
    the mix (request_plan), made by the HTTPS page-load benchmark's CA."""
    from benchmarks.pageload_https import _CA

    ca = _CA(tmp, set())
    domains = ("*.soak-tracker.example", *(f"*.soak-site{k}.example" for k in range(97)))
    return ca.pem, ca.make("soak-origin.example", domains)


def _client_tls(tmp: Path) -> ssl.SSLContext:
    """What a browser trusting pixelguard's CA checks each tunnel's certificate against."""
    return ssl.create_default_context(cafile=str(tmp / "confdir" / "mitmproxy-ca-cert.pem"))


def _run(
    args: argparse.Namespace, port: int, proxy: subprocess.Popen, tmp: Path
) -> list[tuple[int, float, float]]:
    import signal

    done = [0]
    lock = threading.Lock()
    errors: list[str] = []
    refused = [0]
    samples: list[tuple[int, float, float]] = [(0, rss_mb(proxy.pid), time.monotonic())]
    step = 10_000 if not args.https else 2_000
    next_sample = [step]
    client_tls = _client_tls(tmp) if args.https else None

    def send(conn: http.client.HTTPConnection, method: str, target: str, headers: dict, body: bytes) -> None:
        conn.request(method, target, body=body or None, headers=headers)
        conn.getresponse().read()

    def worker(w: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = w
        while i < args.requests:
            method, url, headers, body = request_plan(i)
            try:
                if client_tls is None:
                    send(conn, method, url, headers, body)
                else:  # a tunnel of its own, to the same URL over HTTPS
                    host, _, path = url.split("://", 1)[1].partition("/")
                    tunnel = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=client_tls)
                    tunnel.set_tunnel(host, 443)
                    try:
                        send(tunnel, method, "/" + path, headers, body)
                    finally:
                        tunnel.close()
            except (OSError, http.client.HTTPException) as e:
                if "Tunnel connection failed: 403" in str(e):  # blocked whole: refused before any handshake
                    with lock:
                        refused[0] += 1
                else:
                    errors.append(f"{url}: {e}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            i += args.workers
            with lock:
                done[0] += 1
                if done[0] >= next_sample[0]:
                    next_sample[0] += step
                    samples.append((done[0], rss_mb(proxy.pid), time.monotonic()))
                    if args.tracemalloc:
                        os.kill(proxy.pid, signal.SIGUSR1)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    blocked = f", {refused[0]:,} tunnels refused (blocked whole)" if args.https else ""
    print(
        f"{args.requests:,} requests in {took:.0f} s ({args.requests / took:,.0f}/s), {len(errors)} errors{blocked}"
    )
    for e in errors[:5]:
        print("  " + e)
    return samples


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("bench-soak: the proxy exited (its output is proxy-output.txt in the soak's directory)")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("bench-soak: the proxy did not start")


if __name__ == "__main__":
    main()
