"""Durations as people type them on the command line: 90s, 10m, 1h, 2d, 1h30m."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX = timedelta(days=3650)  # ten years: longer is a typo, and datetime arithmetic overflows soon after
_MAX_TEXT = 40


def parse_duration(text: str) -> timedelta:
    """Parse '10m', '1h30m', '2d'. Raises ValueError with a message fit to show the user."""
    cleaned = text.strip().lower()
    # What the user typed, quoted; past _MAX_TEXT cut, with the dots outside the quotes (they typed none).
    shown = repr(text) if len(text) <= _MAX_TEXT else repr(text[:_MAX_TEXT]) + "..."
    if not cleaned or len(cleaned) > _MAX_TEXT or _PART.sub("", cleaned) != "":
        raise ValueError(f"{shown} is not a duration (examples: 90s, 10m, 1h, 2d, 1h30m)")
    seconds = sum(int(amount) * _SECONDS[unit] for amount, unit in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"{shown} is not a positive duration")
    if seconds > MAX.total_seconds():
        raise ValueError(f"{shown} is longer than {MAX.days // 365} years")
    return timedelta(seconds=seconds)
