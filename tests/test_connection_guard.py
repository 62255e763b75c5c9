"""The HTTP/2 reset window (proxy/connection_guard.py): resets older than RESET_WINDOW_S stop counting, so a
browser that cancels a page's requests now and then is never closed; a burst is. The proxy's use of it is in
e2e/test_wear.py."""

from __future__ import annotations

import pytest

from pixelguard.limits import MAX_STREAM_RESETS, RESET_WINDOW_S
from pixelguard.proxy import connection_guard


def test_resets_count_within_the_window_only(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(connection_guard.time, "monotonic", lambda: now[0])
    window = connection_guard._ResetWindow()
    assert window.add(50) == 50
    now[0] += RESET_WINDOW_S / 2
    assert window.add(50) == 100
    now[0] += RESET_WINDOW_S / 2 + 0.1  # the first 50 are older than the window now
    assert window.add(10) == 60
    now[0] += 10 * RESET_WINDOW_S
    assert window.add(1) == 1
    burst = connection_guard._ResetWindow()
    assert burst.add(MAX_STREAM_RESETS + 1) > MAX_STREAM_RESETS  # one read over the budget is enough
