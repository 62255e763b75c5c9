"""``pixelguard mail clean`` speed on the real newsletters of ../shared/emails, with EasyPrivacy and the bundled lists
loaded as a user has them: messages per second in one process (what ``--maildir`` does), against the floor any
mail filter pays (the standard library parsing and writing the same message), and the time of one
``pixelguard mail clean`` process per message (what procmail or maildrop run for each delivery).

``scripts/bench-mail [--rounds N]``. Reads and writes nothing but temporary files.
"""

from __future__ import annotations

import argparse
import email
import os
import statistics
import subprocess
import sys
import tempfile
import time
from email import policy
from pathlib import Path

from pixelguard.config import bundled_filters_dir
from pixelguard.engine import Engine
from pixelguard.mail_clean import Judge, clean_message

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def _rate(fn, messages: list[bytes], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for raw in messages:
            fn(raw)
        best = min(best, time.perf_counter() - t0)
    return len(messages) / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="best of this many passes (default 5)")
    args = ap.parse_args()
    files = sorted((SHARED / "emails").rglob("*.eml"))
    if not files:
        print(f"no messages under {SHARED / 'emails'}", file=sys.stderr)
        return 2
    messages = [f.read_bytes() for f in files]
    lists = [bundled_filters_dir() / f"pixelguard-{n}.txt" for n in ("ads", "email", "links")]
    engine = Engine.from_files([*lists, SHARED / "filterlists" / "easyprivacy.txt"])
    judge = Judge(engine, frozenset({"pixelguard-links"}))
    size = sum(map(len, messages)) / len(messages) / 1024

    def floor(raw: bytes) -> bytes:
        return email.message_from_bytes(raw, policy=policy.default).as_bytes()

    removed = sum(clean_message(raw, judge).counts.pixels for raw in messages)
    clean = _rate(lambda raw: clean_message(raw, judge), messages, args.rounds)
    base = _rate(floor, messages, args.rounds)
    print(f"{len(messages)} newsletters (mean {size:.0f} KB), {removed} pixels removed in all")
    print(
        f"mail clean, in one process: {clean:,.0f} messages/s; the standard library parsing and writing "
        f"them: {base:,.0f} messages/s ({base / clean:.2f}x clean's speed)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        config = home / "config.yaml"
        config.write_text(
            f"lists:\n  - {{name: easyprivacy, path: {SHARED / 'filterlists' / 'easyprivacy.txt'}}}\n"
            f"user_list: {home / 'user.txt'}\n"
        )
        env = {**os.environ, "PIXELGUARD_CONFIG": str(config), "XDG_DATA_HOME": str(home / "data"),
               "XDG_CACHE_HOME": str(home / "cache")}  # fmt: skip
        cmd = [sys.executable, "-m", "pixelguard", "mail", "clean"]
        subprocess.run(cmd, input=messages[0], env=env, capture_output=True, check=True)  # fills the cache
        times = []
        for raw in messages[:10]:
            t0 = time.perf_counter()
            subprocess.run(cmd, input=raw, env=env, capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
        true_t = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            true_t.append(time.perf_counter() - t0)
    print(
        f"one `pixelguard mail clean` per message (as a delivery hook runs it, compiled lists cached): median "
        f"{statistics.median(times) * 1000:.0f} ms; a bare Python start here: "
        f"{statistics.median(true_t) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
