"""Pausing protection: one small JSON file, data_dir/pause.json, that the proxy polls.

A file rather than a signal so that the CLI, the UI and the proxy (one process or several) share it, and so
that a pause survives a proxy restart until it expires.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from pixelguard.fileio import atomic_write

log = logging.getLogger(__name__)
FILE = "pause.json"


def pause_file(data_dir: Path) -> Path:
    return Path(data_dir) / FILE


def pause(data_dir: Path, until: datetime) -> None:
    """Pause protection until ``until`` (an aware datetime; a naive one is taken as local time)."""
    until_utc = until.astimezone(UTC)
    atomic_write(pause_file(data_dir), json.dumps({"until": until_utc.timestamp()}) + "\n")


def resume(data_dir: Path) -> bool:
    """Resume protection now. True when a pause was in place (expired or not)."""
    try:
        pause_file(data_dir).unlink()
        return True
    except FileNotFoundError:
        return False


def paused_until(data_dir: Path, now: datetime | None = None) -> datetime | None:
    """When the pause ends (aware UTC), or None when not paused or expired. A damaged file means not paused."""
    try:
        data = json.loads(pause_file(data_dir).read_text(encoding="utf-8"))
        until = datetime.fromtimestamp(float(data["until"]), UTC)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, OverflowError) as e:
        # Fail safe: protection stays on when the switch cannot be read.
        log.warning("ignoring unreadable %s: %s", pause_file(data_dir), e)
        return None
    current = now or datetime.now(UTC)
    return until if until > current else None
