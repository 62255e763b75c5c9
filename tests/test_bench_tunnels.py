"""`scripts/bench-tunnels` reports each kind's median CPU per connection and the ratio to mitmdump taken within each
round (the machine's speed moves between rounds; the proxies of one round share it)."""

from __future__ import annotations

import argparse

from benchmarks.pageload import host_delay
from benchmarks.tunnels import KINDS, _instant_hosts, _report


def test_each_ratio_is_taken_within_its_round() -> None:
    # mitmdump's CPU doubles in the second round (a busy moment); pixelguard's with it.
    cpu = {
        kind: {
            "mitmdump": [0.004, 0.008, 0.005],
            "pixelguard": [0.002, 0.0036, 0.003],  # 0.50x, 0.45x, 0.60x
            "pixelguard, baseline": [0.0024, 0.0048, 0.0030],  # 0.60x each
        }
        for kind in KINDS
    }
    text = _report(cpu, argparse.Namespace(rounds=3, count=100), "tracker.example", "/pixel.gif")
    lines = text.splitlines()
    assert "median of 3 rounds of 100" in lines[0] and "tracker.example" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == list(KINDS)
    for line in lines[1:]:
        assert "mitmdump  5.00 ms" in line
        assert "pixelguard  3.00 ms, 0.50x (0.45-0.60)" in line  # a ratio of medians would say 0.60x
        assert "pixelguard, baseline  3.00 ms, 0.60x (0.60-0.60)" in line


def test_the_hosts_it_uses_are_answered_without_a_delay() -> None:
    hosts = _instant_hosts(4)
    assert len(set(hosts)) == 4
    assert all(host_delay(h) == 0 for h in hosts)
