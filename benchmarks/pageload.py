"""Page-load benchmark: the page loads of ../shared/requests/top500-sitelist.txt replayed through plain mitmdump
and through pixelguard (its default bundled lists plus EasyList + EasyPrivacy), against a local simulated
internet: one server on 127.0.0.1 answers for every host, after a delay that is fixed per host (0-60 ms), with a
body of the type the URL names. Prints the median page-load time with no proxy and through each proxy, and
the ratios, and each proxy's CPU time per request and peak memory.

A page load: the page itself, then its subresources six at a time (as a browser's per-page connection limit),
done when the last one is answered. Everything is plain HTTP on loopback; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import http.client
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from benchmarks import cores
from benchmarks.lists import SHARED
from benchmarks.proxy import free_port, isolated_env, mitmdump_cmd, remove_run_dir, stop, wait_listen

RESOLVE_LOCAL = """
import os
from mitmproxy.proxy import server_hooks

def server_connect(data: server_hooks.ServerConnectionHookData) -> None:
    if data.server.address:
        data.server.address = ("127.0.0.1", int(os.environ["PG_BENCH_ORIGIN"]))
"""


def host_delay(host: str) -> float:
    """How long a host of the simulated internet takes to answer (and, in the HTTPS benchmark, one round trip to
    it): 0-60 ms, fixed per host."""
    return int(hashlib.sha256(host.encode()).hexdigest()[:4], 16) % 61 / 1000


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far (user and system, in the kernel's ticks of 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Internet(http.server.BaseHTTPRequestHandler):
    """Every host of the simulated internet: a per-host delay, then a small body."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        time.sleep(host_delay(self.headers.get("Host", "")))
        body = b"x" * 1024
        self.send_response(200)
        self.send_header("Content-Type", "image/png" if self.path.endswith(".png") else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


def config_text(tmp: Path) -> str:
    """pixelguard's config for a page-load run: its default lists plus EasyList and EasyPrivacy, files under tmp."""
    filters = SHARED / "filterlists"
    return (
        f"database: {tmp}/pg.db\nuser_list: {tmp}/user.txt\nlearned_list: {tmp}/learned.txt\n"
        "cname: {enabled: false}\nlists:\n"
        "  - {name: pixelguard-ads, path: bundled}\n  - {name: pixelguard-email, path: bundled}\n"
        "  - {name: pixelguard-params, path: bundled}\n"
        f"  - {{name: easylist, path: {filters}/easylist.txt}}\n"
        f"  - {{name: easyprivacy, path: {filters}/easyprivacy.txt}}\n"
    )


def host_and_port(authority: str) -> tuple[str, int]:
    """An https URL's authority as the host to name and the port to CONNECT to: "1.2.3.4:8080" gives
    ("1.2.3.4", 8080), "[::1]" gives ("::1", 443). (A tunnel to "1.2.3.4:8080:443" is a client's bug: the
    benchmark once sent that and counted the proxies' 400 as their failure.)"""
    parts = urllib.parse.urlsplit("//" + authority)
    return parts.hostname or authority, parts.port or 443


def pages(limit: int) -> list[list[str]]:
    """Page loads: each a page URL followed by its subresources, as plain-HTTP URLs."""
    out: list[list[str]] = []
    for line in (SHARED / "requests" / "top500-sitelist.txt").read_text().split("\n"):
        url = line.strip()
        if not url:
            continue
        plain = "http://" + url.split("://", 1)[-1]
        rest = url.split("://", 1)[-1]
        if "/" not in rest or rest.index("/") == len(rest) - 1:
            out.append([plain])
        elif out:
            out[-1].append(plain)
    return [p for p in out if len(p) > 1][:limit]


def load(port: int, page: list[str], direct: bool = False) -> float:
    """One page load through the proxy at port; with direct, from the simulated internet at port itself (no
    proxy: the request names its host in the Host header, as a browser's does)."""

    def get(url: str, referer: str | None) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            headers = {"Accept": "*/*"}
            if referer:
                headers["Referer"] = referer
            target = url
            if direct:
                host, _, rest = url.split("://", 1)[1].partition("/")
                headers["Host"], target = host, "/" + rest
            conn.request("GET", target, headers=headers)
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()

    start = time.perf_counter()
    get(page[0], None)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda u: get(u, page[0]), page[1:]))
    return time.perf_counter() - start


def count(text: str) -> int:
    """An option's count, as argparse reads it: a whole number of at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a count, not {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("needs a count of at least 1")
    return n


# Per setup: "page" (its median, s); for a proxy also "cpu" (s per request) and "rss" (MB).
Results = dict[str, dict[str, float]]


def add_runs_option(ap: argparse.ArgumentParser) -> None:
    """``--runs N``, for the plain-HTTP run and the HTTPS one alike (``measure_runs`` reads it)."""
    ap.add_argument(
        "--runs",
        type=count,
        default=1,
        metavar="N",
        help="measure N times, each run with fresh proxies and a fresh simulated internet, then print each "
        "ratio's median over the runs and its range (one run's ratio to no proxy moves by 0.05-0.2 on a busy "
        "machine)",
    )


def add_pin_option(ap: argparse.ArgumentParser) -> None:
    """``--pin``, for the plain-HTTP run and the HTTPS one alike (``pinned_cores`` reads it)."""
    ap.add_argument(
        "--pin",
        action="store_true",
        help="run the proxies on CPUs of their own: the harness (client and simulated internet) on the first CPU, "
        "every proxy on the others, so that the harness's work does not compete with the proxy's "
        "(benchmarks/cores.py; Linux, at least 2 CPUs)",
    )


def pinned_cores(ap: argparse.ArgumentParser, pin: bool) -> cores.Cores | None:
    """With ``--pin``, this process (the harness) on its CPUs, and the CPUs the proxies are to be started on."""
    if not pin:
        return None
    try:
        split = cores.split()
    except ValueError as e:
        ap.error(str(e))
    cores.pin_harness(split)
    print(cores.describe(split), flush=True)
    return split


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False
    )
    ap.add_argument(
        "-h", "--help", action="store_true", help="show this help (with --https: the HTTPS run's)"
    )
    ap.add_argument("--pages", type=int, default=60, help="page loads to replay (default %(default)s)")
    ap.add_argument(
        "--https",
        action="store_true",
        help="over HTTPS, against no proxy and an ideal blocker too (benchmarks/pageload_https.py; its own "
        "options, such as --round-trips, --http2 and --cname-delay, are listed by --https --help)",
    )
    add_runs_option(ap)
    add_pin_option(ap)
    args, rest = ap.parse_known_args(argv)
    if args.https:
        from benchmarks import pageload_https

        return pageload_https.main(
            [f"--pages={args.pages}", f"--runs={args.runs}", *rest, *(["--pin"] if args.pin else []),
             *(["--help"] if args.help else [])]
        )  # fmt: skip
    if args.help:
        ap.print_help()
        return 0
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    if not (SHARED / "requests" / "top500-sitelist.txt").is_file():
        print("bench-pageload: ../shared/requests/top500-sitelist.txt is missing")
        return 1
    split = pinned_cores(ap, args.pin)
    measure_runs(args.runs, lambda: _measure(args.pages, split))
    return 0


def measure_runs(runs: int, measure: Callable[[], Results]) -> None:
    """Measure ``runs`` times, then, for more than one, print each ratio's median and range over them."""
    results = []
    for n in range(runs):
        if runs > 1:
            print(f"run {n + 1} of {runs}", flush=True)
        results.append(measure())
    if runs > 1:
        print(summary(results))


def summary(runs: list[Results]) -> str:
    """Each setup's ratios over the runs, each ratio taken within its own run: median (lowest to highest)."""

    def spread(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}} to {max(values):{fmt}})"

    lines = [f"over {len(runs)} runs, each ratio within its own run: median (lowest to highest)"]
    for s in runs[0]:
        if s == "no proxy":
            continue
        parts = [f"  {s:24s} {spread([r[s]['page'] / r['no proxy']['page'] for r in runs], '.2f')}x no proxy"]
        if s not in ("mitmdump", "ideal blocker"):
            parts.append(f"{spread([r[s]['page'] / r['mitmdump']['page'] for r in runs], '.2f')}x mitmdump")
        if s != "ideal blocker" and "ideal blocker" in runs[0]:  # the plain-HTTP run has none
            ideal = [r[s]["page"] / r["ideal blocker"]["page"] for r in runs]
            parts.append(f"{spread(ideal, '.2f')}x the ideal blocker")
        if "cpu" in runs[0][s] and s != "mitmdump":
            parts.append(
                f"CPU {spread([r[s]['cpu'] / r['mitmdump']['cpu'] for r in runs], '.2f')}x mitmdump's per request"
            )
            parts.append(f"peak RSS {spread([r[s]['rss'] - r['mitmdump']['rss'] for r in runs], '+.0f')} MB")
        lines.append(",  ".join(parts))
    return "\n".join(lines)


def _measure(limit: int, split: cores.Cores | None = None) -> Results:
    """One run: a fresh simulated internet and fresh proxies (on the proxies' CPUs of ``split``, with ``--pin``),
    the pages loaded through each, its lines printed; returns each setup's median page time (s) under "page" and
    each proxy's CPU per request and peak memory, as the HTTPS run's results hold them."""
    internet = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Internet)
    internet.daemon_threads = True
    threading.Thread(target=internet.serve_forever, daemon=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="pg-pageload-"))
    script = tmp / "resolve_local.py"
    script.write_text(RESOLVE_LOCAL)
    cfg = tmp / "config.yaml"
    cfg.write_text(config_text(tmp))
    env = isolated_env(tmp, PG_BENCH_ORIGIN=str(internet.server_address[1]))
    py = sys.executable
    ports = {"mitmdump": free_port(), "pixelguard": free_port()}
    cmds = {
        "mitmdump": mitmdump_cmd(ports["mitmdump"], tmp, "-s", str(script)),
        "pixelguard": [
            py, "-m", "pixelguard", "--config", str(cfg), "run", "--port", str(ports["pixelguard"]),
            "--set", f"scripts={script}",
        ],
    }  # fmt: skip
    with cores.spawning_on(split):
        procs = {
            n: subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            for n, c in cmds.items()
        }
    try:
        for name, p in procs.items():
            wait_listen(ports[name], p, name)
        if split:
            cores.check_pinned([p.pid for p in procs.values()], split.proxies)
        sample = pages(limit)
        for page in sample[:5]:  # warm-up
            load(ports["mitmdump"], page)
            load(ports["pixelguard"], page)
        setups = ["no proxy", "mitmdump", "pixelguard"]
        times: dict[str, list[float]] = {name: [] for name in setups}
        cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}  # after the warm-up, as over HTTPS
        origin = internet.server_address[1]
        for i, page in enumerate(sample):
            for name in setups[i % 3 :] + setups[: i % 3]:
                if name == "no proxy":
                    times[name].append(load(origin, page, direct=True))
                else:
                    times[name].append(load(ports[name], page))
        cpu = {name: (cpu_seconds(p.pid) - cpu0[name]) for name, p in procs.items()}
        peak = {name: peak_rss_mb(p.pid) for name, p in procs.items()}
        requests = sum(len(p) for p in sample)
        print(f"{len(sample)} page loads ({requests} requests) from top500-sitelist, alternating proxies")
        for name, ts in times.items():
            line = (f"  {name:11s} median page load {statistics.median(ts) * 1000:7.1f} ms   p90 "
                    f"{sorted(ts)[int(len(ts) * 0.9)] * 1000:7.1f} ms")  # fmt: skip
            if name in cpu:
                line += f"   proxy CPU {cpu[name] / requests * 1000:5.2f} ms/request, peak RSS {peak[name]:4.0f} MB"
            print(line)
        pg = statistics.median(times["pixelguard"])
        print(
            f"median page load pixelguard / mitmdump: {pg / statistics.median(times['mitmdump']):.2f}x, "
            f"/ no proxy: {pg / statistics.median(times['no proxy']):.2f}x (below 1: blocked trackers cost no wait)"
        )
    finally:
        stop(procs.values())
        internet.shutdown()
        internet.server_close()
        remove_run_dir(tmp)
    results: Results = {name: {"page": statistics.median(ts)} for name, ts in times.items()}
    for name in cpu:
        results[name] |= {"cpu": cpu[name] / requests, "rss": peak[name]}
    return results


if __name__ == "__main__":
    sys.exit(main())
