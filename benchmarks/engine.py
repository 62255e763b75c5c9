"""Benchmark: pixelguard's engine against Brave's ``adblock`` (and adblockparser) on the lists people use.

Run ``scripts/bench-engine [--lists SET]`` from the repo root (reads ../shared). Not a test: it prints figures,
ratios and the requests on which the two engines disagree. Each engine's build time and peak RSS are measured
in a fresh subprocess holding only that engine.

SET: ``easylist+easyprivacy`` (default), ``ubo`` (uBO filters + privacy), ``all`` (those, Fanboy's Social and
the AdAway hosts file), or comma-separated names of files in ../shared/filterlists (or paths to list files).
``--synthetic-hosts N`` adds a made-up hosts file of N lines, to measure how a big blocklist is held.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.lists import FILTERLISTS, brave_engine, load_requests, resolve, write_synthetic_hosts


def child(kind: str, lists: str, cache_dir: str) -> None:
    """Build one engine in this fresh process; print build time and peak RSS as JSON."""
    paths = resolve(lists)
    reqs = load_requests()[:2000]
    t0 = time.perf_counter()
    if kind == "brave":
        eng = brave_engine(paths)
        build = time.perf_counter() - t0
        for u, s, t in reqs:
            eng.check_network_urls(u, s, t)
    else:
        from pixelguard.engine import Engine

        e = Engine.from_files(paths, cache_dir=Path(cache_dir) if kind == "pixelguard-warm" else None)
        build = time.perf_counter() - t0
        for u, s, t in reqs:
            e.check(u, s, t)
    print(json.dumps({"build_s": build, "rss_mb": peak_rss_mb()}))


TIMING_CHILD = """
import json, statistics, sys, time
import pixelguard
from benchmarks.lists import load_requests, resolve
from pixelguard.engine import Engine
reqs = load_requests()
e = Engine.from_files(resolve(sys.argv[1]))
for u, s, t in reqs[:500]:
    e.check(u, s, t)
best = [1 << 62] * len(reqs)
pc = time.perf_counter_ns
for _ in range(3):
    for i, (u, s, t) in enumerate(reqs):
        a = pc(); e.check(u, s, t); b = pc()
        best[i] = min(best[i], b - a)
best.sort()
print(json.dumps({
    "median_us": statistics.median(best) / 1000,
    "p99_us": best[int(len(best) * 0.99)] / 1000,
    "pixelguard": pixelguard.__file__,
}))
"""


def _time_checkout(checkout: Path | None, lists: str) -> dict:
    """One fresh process timing the engine of ``checkout`` (None: this one) on every request, best of 3."""
    import os

    env = dict(os.environ)
    here = Path(__file__).resolve().parents[1]
    root = (checkout or here).resolve()
    # The checkout's pixelguard (and its benchmark helpers, when it has them) first on the path. ``-P``: plain
    # ``python -c`` puts the working directory before PYTHONPATH, and so timed this checkout's pixelguard twice
    # until that was found; the check below says which one was timed.
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(here)])
    out = subprocess.run(
        [sys.executable, "-P", "-c", TIMING_CHILD, lists], env=env, capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(got["pixelguard"]).resolve().is_relative_to(root):
        raise SystemExit(f"timed {got['pixelguard']}, not the pixelguard of {root}")
    return got


def _compare_with_baseline(lists: str, baseline: Path, rounds: int = 5) -> None:
    """This checkout's engine against another's, alternating fresh processes so that both see the same load."""
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        theirs.append(_time_checkout(baseline, lists)["median_us"])
        ours.append(_time_checkout(None, lists)["median_us"])
    m_o, m_t = statistics.median(ours), statistics.median(theirs)
    print(
        f"\nagainst {baseline} ({rounds} alternating processes each): median {m_o:.2f} us here, "
        f"{m_t:.2f} us there ({m_o / m_t:.2f}x; budget <= 1.0x)"
    )
    print(f"  here:  {', '.join(f'{x:.2f}' for x in ours)}\n  there: {', '.join(f'{x:.2f}' for x in theirs)}")


def peak_rss_mb() -> float:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries that over from the parent across
    fork and exec, so a child started by a big parent would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(kind: str, lists: str, cache_dir: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.engine",
            "--child",
            kind,
            "--lists",
            lists,
            "--cache-dir",
            cache_dir,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _stats(times_ns: list[int]) -> tuple[float, float]:
    s = sorted(times_ns)
    return statistics.median(s) / 1000, s[min(len(s) - 1, int(len(s) * 0.99))] / 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--lists", default="easylist+easyprivacy", help="list set or names (default: %(default)s)"
    )
    ap.add_argument("--abp-sample", type=int, default=0, help="requests to time adblockparser on (0: skip)")
    ap.add_argument("--show", type=int, default=15, help="disagreements to print")
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds over all requests (median of each)")
    ap.add_argument(
        "--synthetic-hosts", type=int, default=0, metavar="N", help="add a made-up hosts file of N lines"
    )
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="also time the engine of another checkout (e.g. a git worktree of the commit before a change), "
        "alternating with this one in fresh processes",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.lists, args.cache_dir)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        if args.synthetic_hosts:
            made = write_synthetic_hosts(Path(tmp) / "synthetic-hosts.txt", args.synthetic_hosts)
            args.lists = f"{args.lists},{made}" if args.lists else str(made)
        return _bench(args)


def _bench(args: argparse.Namespace) -> int:
    paths = resolve(args.lists)
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"missing {', '.join(map(str, missing))}: nothing to benchmark", file=sys.stderr)
        return 1

    from pixelguard.engine import Engine

    reqs = load_requests()
    names = ", ".join(p.name for p in paths)
    print(f"requests: {len(reqs)} (top500-sitelist + pagexray); lists ({args.lists}): {names}")
    with tempfile.TemporaryDirectory() as cache:
        Engine.from_files(paths, cache_dir=Path(cache))  # fill the cache for the warm child
        cold = _run_child("pixelguard-cold", args.lists, cache)
        warm = _run_child("pixelguard-warm", args.lists, cache)
        brave_proc = _run_child("brave", args.lists, cache)

    ours = Engine.from_files(paths)
    brave = brave_engine(paths)
    for u, s, t in reqs[:500]:  # warm lazily compiled matchers and memo tables, as a running proxy would be
        ours.check(u, s, t)
        brave.check_network_urls(u, s, t)

    # Interleaved, so that both engines see the same machine load; several rounds, each request's best time.
    t_ours = [1 << 62] * len(reqs)
    t_brave = [1 << 62] * len(reqs)
    verdicts = []
    pc = time.perf_counter_ns
    for rnd in range(args.rounds):
        for i, (u, s, t) in enumerate(reqs):
            a = pc()
            v = ours.check(u, s, t)
            b = pc()
            r = brave.check_network_urls(u, s, t)
            c = pc()
            t_ours[i] = min(t_ours[i], b - a)
            t_brave[i] = min(t_brave[i], c - b)
            if rnd == 0:
                verdicts.append((u, s, t, v, r))

    m_o, p_o = _stats(t_ours)
    m_b, p_b = _stats(t_brave)
    print(f"\n{'engine':<16}{'median us':>13}{'p99 us':>13}{'build s':>10}{'peak RSS MB':>13}")
    print(f"{'pixelguard':<16}{m_o:>13.1f}{p_o:>13.1f}{cold['build_s']:>10.2f}{cold['rss_mb']:>13.0f}")
    print(f"{'  from cache':<16}{'':>13}{'':>13}{warm['build_s']:>10.2f}{warm['rss_mb']:>13.0f}")
    print(
        f"{'brave adblock':<16}{m_b:>13.1f}{p_b:>13.1f}{brave_proc['build_s']:>10.2f}{brave_proc['rss_mb']:>13.0f}"
    )

    if args.abp_sample:
        from adblockparser import AdblockRules

        t0 = time.perf_counter()
        lines = [ln for p in paths for ln in p.read_text().split("\n")]
        abp = AdblockRules(lines, use_re2=False)
        abp_build = time.perf_counter() - t0
        step = max(1, len(reqs) // args.abp_sample)
        t_abp = []
        for u, _src, t in reqs[::step][: args.abp_sample]:
            opts = {"third-party": True, t: True} if t in abp.supported_options else {"third-party": True}
            a = pc()
            abp.should_block(u, opts)
            t_abp.append(pc() - a)
        m_a, p_a = _stats(t_abp)
        print(
            f"{'adblockparser':<16}{m_a:>13.1f}{p_a:>13.1f}{abp_build:>10.2f}{'-':>13}  ({len(t_abp)} requests)"
        )

    print(
        f"\nratios vs Brave: median {m_o / m_b:.2f}x (target <= 1.5), p99 {p_o / p_b:.2f}x (target <= 3), "
        f"RSS {cold['rss_mb'] / brave_proc['rss_mb']:.2f}x"
    )
    print(
        f"cold build {cold['build_s']:.2f} s (target <= 3), from cache {warm['build_s']:.2f} s (target <= 0.5)"
    )

    if args.baseline:
        _compare_with_baseline(args.lists, Path(args.baseline))

    either = [(u, s, t, v, r) for u, s, t, v, r in verdicts if v.blocked or r.matched]
    diff = [x for x in either if x[3].blocked != x[4].matched]
    share = 1 - len(diff) / max(len(either), 1)
    print(
        f"agreement with Brave: of the {len(either)} requests either engine blocks, both block {share:.4f} "
        f"(target >= 0.995); {len(diff)} differ"
    )
    for u, src, t, v, r in diff[: args.show]:
        print(
            f"  {t:<14} {u[:100]}\n    page {src[:80]}\n    pixelguard: {v.blocked} {v.rule or v.exception}"
            f"\n    brave:      {r.matched} {r.filter or ''} {r.exception or ''}"
        )
    return 0


if __name__ == "__main__":
    if not FILTERLISTS.exists():
        print(f"{FILTERLISTS} is missing: the benchmarks read ../shared", file=sys.stderr)
        sys.exit(1)
    sys.exit(main())
