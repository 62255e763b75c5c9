"""`scripts/bench-pageload --pin`: the harness on one CPU, the proxies on the others, and checked to be there."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from benchmarks import cores

SHOW_CPUS = "import os, sys; print(sorted(os.sched_getaffinity(0))); sys.stdin.read()"


def test_the_harness_gets_the_lowest_cpu_and_the_proxies_the_rest() -> None:
    assert cores.split({0, 1}) == cores.Cores(frozenset({0}), frozenset({1}))
    assert cores.split({7, 3, 5}) == cores.Cores(frozenset({3}), frozenset({5, 7}))
    with pytest.raises(ValueError, match=r"at least 2 CPUs.* 1"):
        cores.split({2})
    assert cores.describe(cores.split({0, 1, 2})) == (
        "pinned: the harness (client and simulated internet) on CPU 0, the proxies on CPUs 1, 2"
    )


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="--pin splits CPUs: this process may use only one"
)
def test_processes_started_inside_run_on_the_proxies_cpus_and_are_checked() -> None:
    before = os.sched_getaffinity(0)
    split = cores.split()
    procs: list[subprocess.Popen[str]] = []
    try:
        with cores.spawning_on(split):
            procs.append(subprocess.Popen([sys.executable, "-c", SHOW_CPUS], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True))  # fmt: skip
        assert os.sched_getaffinity(0) == split.harness  # the starting thread is back on the harness's
        procs.append(subprocess.Popen([sys.executable, "-c", SHOW_CPUS], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True))  # fmt: skip
        assert procs[0].stdout and procs[1].stdout
        assert procs[0].stdout.readline().strip() == str(sorted(split.proxies))
        assert procs[1].stdout.readline().strip() == str(sorted(split.harness))
        cores.check_pinned([procs[0].pid], split.proxies)
        with pytest.raises(SystemExit, match=rf"python.*runs on CPUs \[{min(split.harness)}\]"):
            cores.check_pinned([procs[0].pid, procs[1].pid], split.proxies)
    finally:
        os.sched_setaffinity(0, before)
        for p in procs:
            p.communicate("")
