"""`scripts/bench-leaks` runs and says what it measured: it had fallen out of step with the leak alarm (it asked for
attributes the alarm no longer has) and failed at its last line, so nobody saw the alarm go over its budget."""

from __future__ import annotations

import re

import pytest

from benchmarks import leaks


def test_the_leak_benchmark_runs_and_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert leaks.main([]) == 0
    line = capsys.readouterr().out.strip()
    m = re.fullmatch(
        r"(\d+) request URLs, 4 identities \((\d+) forms\): median ([\d.]+) us, p99 ([\d.]+) us .*", line
    )
    assert m, line
    assert int(m[1]) > 20_000 and int(m[2]) > 4  # every URL of ../shared/requests, several forms per identity
    assert 0 < float(m[3]) <= float(m[4])
