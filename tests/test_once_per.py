"""proxy/once_per.py: what repeats is recorded once per period, in bounded memory."""

from __future__ import annotations

import pytest

from pixelguard.proxy import once_per
from pixelguard.proxy.once_per import OncePer


def test_a_key_is_due_once_per_period_and_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(once_per.time, "monotonic", lambda: now[0])
    once = OncePer(every_s=3600, keys=3)
    assert once.due(("127.0.0.1", "drive.example")) and not once.due(("127.0.0.1", "drive.example"))
    assert once.due(("10.0.0.2", "drive.example"))  # another client is another key
    now[0] += 3599.9
    assert not once.due(("127.0.0.1", "drive.example"))
    now[0] += 0.2
    assert once.due(("127.0.0.1", "drive.example"))  # a period later: due again
    for n in range(100):  # many places: memory starts again rather than grows
        once.due(("127.0.0.1", f"host{n}.example"))
        assert len(once._last) <= 3
