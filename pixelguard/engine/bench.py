"""Benchmark: pixelguard's engine against Brave's ``adblock`` and adblockparser on EasyList + EasyPrivacy.

Run ``scripts/bench-engine`` from the repo root (reads ../shared). Not a test: it prints figures and ratios.
Each engine's build time and peak RSS are measured in a fresh subprocess holding only that engine.
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

from pixelguard.engine.request import guess_type
from pixelguard.engine.rules import TYPE_ALIASES, TYPE_BITS

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
LISTS = [SHARED / "filterlists" / "easylist.txt", SHARED / "filterlists" / "easyprivacy.txt"]


def load_requests() -> list[tuple[str, str, str]]:
    """(url, source_url, type) from both corpora."""
    out = []
    page = ""
    for line in (SHARED / "requests" / "top500-sitelist.txt").read_text().split("\n"):
        url = line.strip()
        if not url:
            continue
        rest = url.split("://", 1)[-1]
        if "/" not in rest or rest.index("/") == len(rest) - 1:
            page = url  # a site's root URL starts a page load; the subresources that follow belong to it
            out.append((url, url, "document"))
        else:
            out.append((url, page, guess_type(url)))
    lines = (SHARED / "requests" / "pagexray-requests.tsv").read_text().split("\n")[1:]
    for line in lines:
        cols = line.split("\t")
        if len(cols) >= 3:
            t = TYPE_ALIASES.get(cols[2], cols[2])
            out.append((cols[0], cols[1], t if t in TYPE_BITS else "other"))
    return out


def _brave_engine():
    import adblock

    fs = adblock.FilterSet(debug=True)
    for p in LISTS:
        fs.add_filter_list(p.read_text())
    return adblock.Engine(fs, optimize=True)


def child(kind: str, cache_dir: str) -> None:
    """Build one engine in this fresh process; print build time and peak RSS as JSON."""
    reqs = load_requests()[:2000]
    t0 = time.perf_counter()
    if kind == "brave":
        eng = _brave_engine()
        build = time.perf_counter() - t0
        for u, s, t in reqs:
            eng.check_network_urls(u, s, t)
    else:
        from pixelguard.engine import Engine

        e = Engine.from_files(LISTS, cache_dir=Path(cache_dir) if kind == "pixelguard-warm" else None)
        build = time.perf_counter() - t0
        for u, s, t in reqs:
            e.check(u, s, t)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"build_s": build, "rss_mb": rss_mb}))


def _run_child(kind: str, cache_dir: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "pixelguard.engine.bench", "--child", kind, "--cache-dir", cache_dir],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _stats(times_ns: list[int]) -> tuple[float, float]:
    s = sorted(times_ns)
    return statistics.median(s) / 1000, s[min(len(s) - 1, int(len(s) * 0.99))] / 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--abp-sample", type=int, default=100, help="requests to time adblockparser on (0: skip)")
    ap.add_argument("--show", type=int, default=15, help="disagreements to print")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.cache_dir)
        return 0
    if not all(p.exists() for p in LISTS):
        print(f"missing {SHARED}/filterlists: nothing to benchmark", file=sys.stderr)
        return 1

    from pixelguard.engine import Engine

    reqs = load_requests()
    print(f"requests: {len(reqs)} (top500-sitelist + pagexray); lists: EasyList + EasyPrivacy")
    with tempfile.TemporaryDirectory() as cache:
        Engine.from_files(LISTS, cache_dir=Path(cache))  # fill the cache for the warm child
        cold = _run_child("pixelguard-cold", cache)
        warm = _run_child("pixelguard-warm", cache)
        brave_proc = _run_child("brave", cache)

    ours = Engine.from_files(LISTS)
    brave = _brave_engine()
    for u, s, t in reqs[:500]:  # warm lazily compiled regexes and memo tables, as a running proxy would be
        ours.check(u, s, t)
        brave.check_network_urls(u, s, t)

    t_ours, t_brave, verdicts = [], [], []
    pc = time.perf_counter_ns
    for u, s, t in reqs:
        a = pc()
        v = ours.check(u, s, t)
        b = pc()
        r = brave.check_network_urls(u, s, t)
        c = pc()
        t_ours.append(b - a)
        t_brave.append(c - b)
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
        lines = [ln for p in LISTS for ln in p.read_text().split("\n")]
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
        f"\nratios vs Brave: median {m_o / m_b:.2f}x (target <= 2), p99 {p_o / p_b:.2f}x (target <= 5), "
        f"RSS {cold['rss_mb'] / brave_proc['rss_mb']:.2f}x (target <= 1.5)"
    )
    print(
        f"cold build {cold['build_s']:.2f} s (target <= 3), from cache {warm['build_s']:.2f} s (target <= 0.5)"
    )

    diff = [(u, s, t, v, r) for u, s, t, v, r in verdicts if v.blocked != r.matched]
    agree = 1 - len(diff) / len(verdicts)
    blocked = sum(1 for *_, v, _ in verdicts if v.blocked)
    print(
        f"agreement with Brave: {agree:.4f} ({len(diff)} of {len(verdicts)} differ; "
        f"pixelguard blocks {blocked}) (target >= 0.99)"
    )
    for u, src, t, v, r in diff[: args.show]:
        print(
            f"  {t:<14} {u[:100]}\n    page {src[:80]}\n    pixelguard: {v.blocked} {v.rule or v.exception}"
            f"\n    brave:      {r.matched} {r.filter or ''} {r.exception or ''}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
