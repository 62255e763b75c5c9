"""Long fuzzing runs of the property-test targets (tests/test_properties.py), for ``scripts/fuzz``.

Each target gets hypothesis's ``fuzz_one_input`` fed random bytes for the time it is given; the report gives
inputs tried, crashes (an exception escaping) and hangs (one input taking longer than the bound) per target,
with the first failing example of each kind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_properties
from hypothesis import settings

HANG_S = 1.0


def fuzz(target: object, seconds: float) -> tuple[int, int, int, str]:
    one = target.hypothesis.fuzz_one_input  # type: ignore[attr-defined]
    tried = crashes = hangs = 0
    first = ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = os.urandom(int.from_bytes(os.urandom(2), "big") % 4096 + 1)
        t0 = time.perf_counter()
        try:
            one(data)
        except Exception as e:  # an escaping exception (assertion included) is a crash found
            crashes += 1
            first = first or f"{type(e).__name__}: {str(e)[:300]}"
        took = time.perf_counter() - t0
        if took > HANG_S:
            hangs += 1
            first = first or f"hang: {took:.1f} s"
        tried += 1
    return tried, crashes, hangs, first


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=75, help="time per target (default: %(default)s)")
    ap.add_argument("--only", help="run only targets whose name contains this")
    args = ap.parse_args(argv)
    settings.register_profile("fuzz", settings.get_profile("suite"), derandomize=False)
    settings.load_profile("fuzz")
    found = 0
    print(f"{'target':<44}{'inputs':>10}{'crashes':>9}{'hangs':>7}")
    for target in test_properties.TARGETS:
        name = target.__name__.removeprefix("test_")
        if args.only and args.only not in name:
            continue
        tried, crashes, hangs, first = fuzz(target, args.seconds)
        found += crashes + hangs
        print(f"{name:<44}{tried:>10,}{crashes:>9}{hangs:>7}" + (f"\n    first: {first}" if first else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
