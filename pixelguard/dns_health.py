"""``dns.json`` in the data dir: the running proxy's word that its CNAME lookups get no answer from DNS.

Uncloaking fails open: a lookup that no nameserver answers lets the request through, judged without its aliases,
and nothing else would show it. A name whose own servers are slow can miss the lookup's budget now and then, so
one unanswered lookup says little; ``SILENT_AFTER`` in a row say the servers are gone. The proxy writes this file
then and removes it at the next answer; the UI's header reads it (``doctor`` asks the servers itself). A file
left by a process that died is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from pixelguard import running
from pixelguard.fileio import atomic_write

log = logging.getLogger(__name__)

FILE = "dns.json"
SILENT_AFTER = 3  # unanswered lookups in a row before the proxy says DNS is not answering


def record(data_dir: Path, since: float | None) -> None:
    """Say (since: when the lookups stopped being answered) or unsay (None) that DNS does not answer."""
    path = Path(data_dir) / FILE
    try:
        if since is not None:
            atomic_write(path, json.dumps({"since": since, "pid": os.getpid()}) + "\n")
        else:
            path.unlink(missing_ok=True)
    except OSError as e:  # the header misses it; the proxy's own work must not
        log.warning("pixelguard: cannot write %s: %s", path, e)


def silent_since(data_dir: Path, started: float = 0.0) -> float | None:
    """When the running proxy's lookups stopped being answered, or None (answered, no proxy, unreadable).
    ``started``: when the running proxy started (proxy.json); a file older than that is an earlier proxy's, even
    if its pid now belongs to another process."""
    try:
        raw = json.loads((Path(data_dir) / FILE).read_text(encoding="utf-8"))
        since, pid = float(raw["since"]), int(raw["pid"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as e:
        log.debug("ignoring unreadable %s: %s", Path(data_dir) / FILE, e)
        return None
    return since if since >= started and pid > 0 and running.alive(pid) else None


class Watch:
    """A proxy's lookups, answered or not, turned into dns.json: written at the SILENT_AFTER-th unanswered lookup
    in a row, removed at the next answer. Called from the event loop; writes only when the state flips."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.since: float | None = None
        self._run = 0

    def answered(self) -> None:
        self._run = 0
        if self.since is not None:
            self.since = None
            record(self.data_dir, None)

    def unanswered(self) -> None:
        self._run += 1
        if self._run == SILENT_AFTER:
            self.since = time.time()
            record(self.data_dir, self.since)
