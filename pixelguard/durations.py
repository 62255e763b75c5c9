"""Durations as people type them on the command line: 90s, 10m, 1h, 2d, 1h30m."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Parse '10m', '1h30m', '2d'. Raises ValueError with a message fit to show the user."""
    cleaned = text.strip().lower()
    if not cleaned or _PART.sub("", cleaned) != "":
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 10m, 1h, 2d, 1h30m)")
    total = timedelta()
    for amount, unit in _PART.findall(cleaned):
        total += timedelta(**{_UNITS[unit]: int(amount)})
    if total <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    return total
