"""Which company a tracker host belongs to, and what kind of tracker it is.

The table is compiled from patrickhulce/third-party-web (MIT; source and licence named in the file's header
keys) into pixelguard/data/entities.json. It is read once, lazily, on the first lookup.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import NamedTuple

from pixelguard.engine.request import normal_host

log = logging.getLogger(__name__)

DATA_FILE = Path(__file__).parent / "data" / "entities.json"


class Entity(NamedTuple):
    company: str
    category: str  # ad, analytics, social, tag-manager, ...


@cache
def _table() -> dict[str, tuple[str, str]]:
    try:
        raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        # Company names are a nicety; a missing or broken table must not stop the UI.
        log.warning("cannot read %s: %s", DATA_FILE, e)
        return {}
    return {d: (v[0], v[1]) for d, v in raw.get("domains", {}).items()}


def lookup(host: str) -> Entity | None:
    """The entity owning ``host`` or its closest listed parent domain, else None."""
    host = normal_host((host or "").strip())
    if not host:
        return None
    table = _table()
    parts = host.split(".")
    for i in range(len(parts)):
        hit = table.get(".".join(parts[i:]))
        if hit is not None:
            return Entity(*hit)
    return None
