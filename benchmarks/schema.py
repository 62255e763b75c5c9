"""Cost of the collection-protocol detectors (payloads/schemas.py) on ordinary requests: ``schemas.detect`` on the
request URLs of ../shared/requests, against the engine's own decision for the same requests (EasyPrivacy and
EasyList) in the same run, and how many of them the detectors recognise (each of those, a list blocks too: a
false positive would be a request they name that no list does).

``scripts/bench-schema [--rounds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks.lists import SHARED, load_requests
from pixelguard.engine import Engine
from pixelguard.engine.request import Request
from pixelguard.payloads.schemas import detect


def _best(fn, items: list, rounds: int) -> list[int]:
    times = [1 << 62] * len(items)
    for _ in range(rounds):
        for i, item in enumerate(items):
            t0 = time.perf_counter_ns()
            fn(item)
            times[i] = min(times[i], time.perf_counter_ns() - t0)
    return sorted(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="best of this many rounds per request (default 3)")
    args = ap.parse_args()
    requests = list(dict.fromkeys(load_requests()))
    engine = Engine.from_files(
        [SHARED / "filterlists" / "easyprivacy.txt", SHARED / "filterlists" / "easylist.txt"]
    )
    models = [Request(u, s or None, t) for u, s, t in requests]
    found = [(u, m) for (u, _, _) in requests if (m := detect(u)) is not None]
    unlisted = [(u, m) for u, m in found if not engine.check(u).blocked]
    ordinary = [u for (u, _, _) in requests if detect(u) is None]
    d = _best(detect, ordinary, args.rounds)
    e = _best(engine.decide, models, args.rounds)
    md, me = statistics.median(d) / 1000, statistics.median(e) / 1000
    p99 = d[int(len(d) * 0.99)] / 1000
    print(f"{len(requests):,} requests: {len(found)} speak a collection protocol, {len(unlisted)} of them not "
          f"blocked by EasyPrivacy or EasyList")  # fmt: skip
    for u, m in unlisted[:20]:
        print(f"  {m.vendor}: {u[:120]}")
    print(
        f"detectors on the {len(ordinary):,} ordinary ones: median {md:.3f} us, p99 {p99:.2f} us; "
        f"the engine's decision, same run: median {me:.2f} us ({md / me:.2f}x the engine's)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
