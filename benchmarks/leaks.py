"""Leak-alarm cost: identity.find on the 22,685 request URLs of ../shared/requests (none carries the identities),
with 4 identities (2 emails, 2 phones), as the proxy calls it on every request it passes. Budget: <= 5 us median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks.lists import load_requests
from pixelguard.decision.leaks import Identity


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="bench-leaks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args(argv)
    me = Identity(
        emails=("me@example.com", "Work.Me@Company.example"), phones=("+1 555 010 0100", "+49 170 1234567")
    )
    urls = [u for u, _, _ in load_requests()]
    for u in urls[:500]:
        me.find(u, "")
    times = [1 << 62] * len(urls)  # each URL's best of 3 rounds
    for _ in range(3):
        for i, u in enumerate(urls):
            t0 = time.perf_counter_ns()
            me.find(u, "")
            times[i] = min(times[i], time.perf_counter_ns() - t0)
    s = sorted(times)
    median, p99 = statistics.median(s) / 1000, s[int(len(s) * 0.99)] / 1000
    print(f"{len(urls)} request URLs, 4 identities ({len(me.forms)} forms): "
          f"median {median:.2f} us, p99 {p99:.2f} us per request (budget: median <= 5 us)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
