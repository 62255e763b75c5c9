"""`scripts/bench-pageload [--https] --runs N` sums its runs up: each ratio is taken within its own run (the
machine's speed moves between runs, the setups of one run share it), then its median and range are shown."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.pageload import count, summary


def run(no_proxy: float, mitmdump: float, pixelguard: float, ideal: float, cpu: float, rss: float) -> dict:
    return {
        "no proxy": {"page": no_proxy},
        "mitmdump": {"page": mitmdump, "cpu": 0.006, "rss": 108.0},
        "pixelguard": {"page": pixelguard, "cpu": cpu, "rss": rss},
        "ideal blocker": {"page": ideal},
    }


def test_each_ratio_is_taken_within_its_run_then_summed_up() -> None:
    runs = [
        run(0.100, 0.150, 0.120, 0.090, 0.0030, 140.0),  # 1.20x, 1.33x the ideal, 0.50x CPU, +32 MB
        run(0.200, 0.300, 0.220, 0.180, 0.0036, 143.0),  # 1.10x, 1.22x, 0.60x, +35 MB
        run(0.150, 0.220, 0.195, 0.130, 0.0033, 141.0),  # 1.30x, 1.50x, 0.55x, +33 MB
    ]
    lines = summary(runs).splitlines()
    assert lines[0].startswith("over 3 runs")
    pixelguard = next(line for line in lines if line.strip().startswith("pixelguard"))
    assert "1.20 (1.10 to 1.30)x no proxy" in pixelguard
    assert "1.33 (1.22 to 1.50)x the ideal blocker" in pixelguard
    assert "0.80 (0.73 to 0.89)x mitmdump," in pixelguard  # page time: 0.80, 0.73, 0.89
    assert "CPU 0.55 (0.50 to 0.60)x mitmdump's" in pixelguard
    assert "peak RSS +33 (+32 to +35) MB" in pixelguard
    mitmdump = next(line for line in lines if line.strip().startswith("mitmdump"))
    assert "1.50 (1.47 to 1.50)x no proxy" in mitmdump and "CPU" not in mitmdump
    ideal = next(line for line in lines if line.strip().startswith("ideal blocker"))
    assert "0.90 (0.87 to 0.90)x no proxy" in ideal and "the ideal blocker" not in ideal
    assert not any(line.strip().startswith("no proxy") for line in lines)


def test_a_plain_http_run_has_no_ideal_blocker() -> None:
    def plain(no_proxy: float, mitmdump: float, pixelguard: float, cpu: float) -> dict:
        return {
            "no proxy": {"page": no_proxy},
            "mitmdump": {"page": mitmdump, "cpu": 0.004, "rss": 100.0},
            "pixelguard": {"page": pixelguard, "cpu": cpu, "rss": 130.0},
        }

    runs = [
        plain(0.100, 0.130, 0.098, 0.0030),
        plain(0.140, 0.180, 0.147, 0.0032),
        plain(0.120, 0.150, 0.120, 0.0028),
    ]
    lines = summary(runs)
    pixelguard = next(line for line in lines.splitlines() if line.strip().startswith("pixelguard"))
    assert "1.00 (0.98 to 1.05)x no proxy" in pixelguard
    assert "0.80 (0.75 to 0.82)x mitmdump" in pixelguard
    assert (
        "CPU 0.75 (0.70 to 0.80)x mitmdump's" in pixelguard and "peak RSS +30 (+30 to +30) MB" in pixelguard
    )
    assert "ideal" not in lines


def test_a_count_option_takes_whole_numbers_of_at_least_one() -> None:
    assert count("3") == 3
    for bad in ("0", "-2", "x", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            count(bad)
