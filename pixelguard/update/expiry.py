"""When a subscription is due: the list's own ``! Expires:`` (bounded), remembered with the download's ETag and
Last-Modified in a sidecar JSON file next to the list (``NAME.txt.meta.json``)."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from pixelguard.config import ListSpec
from pixelguard.fileio import atomic_write

DEFAULT_EXPIRES = timedelta(days=4)  # what EasyList's own lists declare; used when a list says nothing
MIN_EXPIRES, MAX_EXPIRES = timedelta(hours=1), timedelta(days=30)
_EXPIRES = re.compile(r"^!\s*Expires\s*:\s*(\d+)\s*(d|days?|h|hours?)\b", re.I)


def meta_path(spec: ListSpec) -> Path:
    return spec.file.with_name(spec.file.name + ".meta.json")


def read_meta(spec: ListSpec) -> dict[str, Any]:
    try:
        data = json.loads(meta_path(spec).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # A sidecar written for another URL must not make us send its ETag to the new one.
    return data if isinstance(data, dict) and data.get("url") == spec.url else {}


def write_meta(spec: ListSpec, meta: dict[str, Any]) -> None:
    atomic_write(meta_path(spec), json.dumps(meta, indent=1, sort_keys=True).encode("utf-8"))


# --- expiry -----------------------------------------------------------------------------------------------


def parse_expires(text: str) -> timedelta | None:
    """``! Expires: 4 days`` / ``! Expires: 12 hours (update frequency)`` in the list's header, clamped."""
    for line in text.splitlines()[:50]:
        m = _EXPIRES.match(line.strip())
        if m:
            n = int(m.group(1))
            delta = timedelta(hours=n) if m.group(2).lower().startswith("h") else timedelta(days=n)
            return min(max(delta, MIN_EXPIRES), MAX_EXPIRES)
    return None


def _head(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return f.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return ""


def expires_of(spec: ListSpec, meta: dict[str, Any] | None = None) -> timedelta:
    meta = read_meta(spec) if meta is None else meta
    if isinstance(meta.get("expires_seconds"), int | float):
        return timedelta(seconds=meta["expires_seconds"])
    return parse_expires(_head(spec.file)) or DEFAULT_EXPIRES


def last_checked(spec: ListSpec, meta: dict[str, Any] | None = None) -> float | None:
    """When the server was last asked successfully (a 304 counts), else the file's mtime, else None."""
    meta = read_meta(spec) if meta is None else meta
    if isinstance(meta.get("checked"), int | float):
        return float(meta["checked"])
    try:
        return spec.file.stat().st_mtime
    except OSError:
        return None


def due(spec: ListSpec, now: float | None = None) -> bool:
    """True when a subscription has no copy yet or its copy is older than the list's ``! Expires:``."""
    if not spec.url:
        return False
    if not spec.file.is_file():
        return True
    meta = read_meta(spec)
    last = last_checked(spec, meta)
    if last is None:
        return True
    now = time.time() if now is None else now
    return now - last >= expires_of(spec, meta).total_seconds()


# --- download ---------------------------------------------------------------------------------------------
