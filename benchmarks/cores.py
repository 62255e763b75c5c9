"""``--pin``: the proxies on CPUs of their own, apart from the benchmark's harness.

A page-load benchmark's harness (the browser-like client and the simulated internet's servers: one Python process,
its threads sharing one interpreter lock) runs on the same machine as the proxy it measures. On the user's machine
the internet's servers are elsewhere; here their work competes with the proxy's for the machine's cores, and on
this project's 2-core VM every proxy's page times grow with it. Pinned, the harness runs on the first CPU it may
use and every proxy process (its threads and its workers) on the others, so that a proxy's page time is its own
work and its network waits. No proxy and the ideal blocker are the harness alone: an interpreter lock's process
uses about one core, and their page times pinned were within about 3% of those unpinned (README, Performance).

Linux only (``os.sched_setaffinity``). A thread's CPUs pass to the threads and processes it starts, which is how
both sides are set: the harness's threads from its main thread, the proxies from the thread that starts them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple


class Cores(NamedTuple):
    harness: frozenset[int]
    proxies: frozenset[int]


def split(allowed: set[int] | None = None) -> Cores:
    """The CPUs this process may use (or ``allowed``): the lowest for the harness, the rest for the proxies.
    Raises ValueError with fewer than two."""
    cpus = sorted(os.sched_getaffinity(0) if allowed is None else allowed)
    if len(cpus) < 2:
        raise ValueError(f"--pin needs at least 2 CPUs to split, and this process may use {len(cpus)}")
    return Cores(frozenset(cpus[:1]), frozenset(cpus[1:]))


def _threads(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:  # gone meanwhile
        return []


def pin_harness(cores: Cores) -> None:
    """This process on the harness's CPUs: every thread it has now, and so every thread it starts later."""
    for tid in _threads(os.getpid()):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, cores.harness)


@contextlib.contextmanager
def spawning_on(cores: Cores | None) -> Iterator[None]:
    """Processes started inside run on the proxies' CPUs (with ``None``, nothing changes)."""
    if cores is None:
        yield
        return
    os.sched_setaffinity(0, cores.proxies)
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores.harness)


def check_pinned(pids: list[int], cpus: frozenset[int]) -> None:
    """Every thread of each process in ``pids`` may use exactly ``cpus``; raises SystemExit naming the first that
    may not (a proxy that set its own CPUs would measure something else)."""
    for pid in pids:
        for tid in _threads(pid):
            try:
                got = os.sched_getaffinity(tid)
            except ProcessLookupError:
                continue
            if got != cpus:
                name = Path(f"/proc/{pid}/comm").read_text().strip() if Path(f"/proc/{pid}").exists() else pid
                raise SystemExit(f"bench-pageload: --pin: {name} (thread {tid}) runs on CPUs {sorted(got)}, "
                                 f"not {sorted(cpus)}")  # fmt: skip


def describe(cores: Cores) -> str:
    """The line a pinned run prints."""

    def cpus(s: frozenset[int]) -> str:
        return ("CPU " if len(s) == 1 else "CPUs ") + ", ".join(map(str, sorted(s)))

    return (
        f"pinned: the harness (client and simulated internet) on {cpus(cores.harness)}, "
        f"the proxies on {cpus(cores.proxies)}"
    )
