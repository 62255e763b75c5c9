"""The proxy's background updater: enabled subscriptions that are due, checked once an hour."""

from __future__ import annotations

import logging
import threading

from pixelguard.config import Config
from pixelguard.update.download import FAILED, update_list
from pixelguard.update.expiry import due

log = logging.getLogger(__name__)

CHECK_INTERVAL = 3600.0  # the background updater looks for due lists this often (seconds)


def start_background_updater(
    cfg: Config, stop: threading.Event, *, interval: float = CHECK_INTERVAL, first_delay: float = 10.0
) -> threading.Thread:
    """A daemon thread that updates enabled, due subscriptions every ``interval`` seconds until ``stop`` is set.

    The proxy notices the replaced files by their mtimes and rebuilds its engine; nothing else to do here.
    """

    def run() -> None:
        if stop.wait(first_delay):
            return
        while not stop.is_set():
            for spec in cfg.enabled_lists():
                if stop.is_set():
                    return
                if not spec.url or not due(spec):
                    continue
                try:
                    r = update_list(spec, via=cfg.proxy.upstream)
                except Exception:  # never let one bad list kill the updater
                    log.exception("list %s: background update crashed", spec.name)
                    continue
                level = logging.WARNING if r.status == FAILED else logging.INFO
                log.log(level, "list %s: %s: %s", r.name, r.status, r.message)
            stop.wait(interval)

    t = threading.Thread(target=run, name="pixelguard-list-updater", daemon=True)
    t.start()
    return t
