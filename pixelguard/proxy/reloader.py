"""Follows the files the running proxy depends on, in a background thread, and swaps in a rebuilt engine.

Every POLL_SECONDS: the pause switch (pause.json), the config file's list selection (the UI's list toggle writes
it; other keys need a restart and say so), temporary allows whose time has come (removed from the user list),
and the list files themselves. A list that does not build never replaces the working engine.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pixelguard import config as configmod
from pixelguard import lists, pause
from pixelguard.errors import PixelguardError
from pixelguard.fileio import stat_signature
from pixelguard.proxy.interpreter import freeze_heap
from pixelguard.proxy.shared import Shared

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


# Lists bigger than this together are built in a child process, which writes the compiled index to the cache
# that the proxy then loads: the build's memory peak (several times the lists' size) is the child's, and the
# proxy's event loop is not held up by it. EasyList + EasyPrivacy (3.6 MB) built in the proxy raised its peak
# memory by 20 MB for good (131 MB against 111 MB, most of what `scripts/bench-pageload --https` measured
# above mitmdump), for 0.16 s less than a child took (1.05 s against 1.21 s). Only small lists (the bundled
# ones, a user list) stay in-process, where starting a child would be most of the time.
CHILD_BUILD_BYTES = 512 * 1024


def build_engine(cfg: configmod.Config, *, child: bool | None = None) -> Any:
    from pixelguard.engine import Engine

    started = time.monotonic()
    files = cfg.filter_files()
    if child is None:
        child = sum(_size(f) for f in files) > CHILD_BUILD_BYTES
    if child:
        _build_in_child(files, cfg.cache_dir)
    engine = Engine.from_files(files, cache_dir=cfg.cache_dir)
    for err in list(getattr(engine, "errors", []))[:20]:
        log.warning("pixelguard: skipped rule %s", err)
    how = " (built in a child process)" if child else ""
    log.info("pixelguard: loaded %d lists in %.2fs%s", len(files), time.monotonic() - started, how)
    return engine


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _build_in_child(files: list[Path], cache_dir: Path) -> None:
    """Build the lists' index in another process, into the cache; a child that fails leaves no cache entry, and
    the in-process build that follows says what is wrong (or the working engine stays, see Reloader)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "pixelguard.engine", "build", str(cache_dir), *map(str, files)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise PixelguardError(f"building the lists failed in a child process: {r.stderr.strip()[-300:]}")


class Reloader:
    def __init__(self, shared: Shared, config_path: Path | None):
        self.shared = shared
        self.config_path = config_path
        self.build = build_engine  # replaced in tests to simulate a failing build
        self._config_sig = stat_signature(config_path)
        self._pause_sig: tuple = ()
        self._signature = self._list_signature()
        self._next_expiry: datetime | None = None
        self._expiry_sig: tuple = ()
        self._lock = threading.Lock()  # one poll at a time: the thread's and a direct call's never interleave
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.read_pause()
        self.sync_learned()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pixelguard-lists", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.poll()
            except Exception:
                log.exception("pixelguard: list watcher error")

    def poll(self) -> None:
        with self._lock:
            self.read_pause()
            self._read_config()
            self._expire_allows()
            self._rebuild_if_changed()

    def _watched_files(self) -> list[Path]:
        cfg = self.shared.cfg
        return [spec.file for spec in cfg.enabled_lists()] + [cfg.user_list, cfg.learned_list]

    def _list_signature(self) -> tuple:
        return tuple(stat_signature(p) for p in self._watched_files())

    def _rebuild_if_changed(self) -> None:
        st = self.shared
        sig = self._list_signature()
        if sig == self._signature:
            return
        with st.learn_lock:
            written = set(st.written_learned)  # on disk before the signature above was taken
        try:
            engine = self.build(st.cfg)
        except Exception as e:
            # A list that does not build never replaces the working engine; retry when it changes again.
            self._signature = sig
            log.error("pixelguard: lists changed but could not be loaded, keeping the previous ones: %s", e)
            return
        assert st.pipeline is not None
        st.pipeline.engine = engine  # one reference swap: a hook sees the old engine or the new one
        self._signature = sig
        with st.learn_lock:
            for host in written:
                st.pending_learned.pop(host, None)
            st.written_learned -= written
        self.sync_learned()
        freeze_heap()  # the old engine's cycles collected, the new one out of later collections

    def _expire_allows(self) -> None:
        """Temporary allows stop on time: the rule leaves the user list, and the rebuild that follows drops it."""
        path = self.shared.cfg.user_list
        sig = stat_signature(path)
        if sig != self._expiry_sig:
            self._expiry_sig = sig
            self._next_expiry = lists.next_expiry(path)
        if self._next_expiry is not None and self._next_expiry <= datetime.now(UTC):
            for rule in lists.expire(path):
                log.info("pixelguard: temporary allow ended: %s", rule)
            self._expiry_sig = stat_signature(path)
            self._next_expiry = lists.next_expiry(path)

    def _read_config(self) -> None:
        """Follow the config file's list selection; other keys need a restart."""
        sig = stat_signature(self.config_path)
        if sig == self._config_sig:
            return
        self._config_sig = sig
        if not self.config_path or not self.config_path.is_file():
            return
        try:
            new = configmod.load(self.config_path)
        except PixelguardError as e:
            log.error("pixelguard: config changed but cannot be read, keeping the running one: %s", e)
            return
        st = self.shared
        old = st.cfg
        if new.lists != old.lists:
            enabled = ", ".join(spec.name for spec in new.enabled_lists()) or "none"
            log.info("pixelguard: config changed: lists now %s", enabled)
            st.cfg = dataclasses.replace(old, lists=new.lists)  # the list signature sees the change
        others = [
            f.name
            for f in dataclasses.fields(old)
            if f.name not in ("lists", "origins", "source") and getattr(new, f.name) != getattr(old, f.name)
        ]
        if others:
            log.warning("pixelguard: config changed: restart pixelguard to apply %s", ", ".join(others))

    def read_pause(self) -> None:
        st = self.shared
        path = pause.pause_file(st.cfg.data_dir)
        sig = stat_signature(path)
        if sig == self._pause_sig:
            return
        until = pause.paused_until(st.cfg.data_dir)
        assert st.pipeline is not None
        st.pipeline.paused_until = until.timestamp() if until else 0.0
        self._pause_sig = sig
        log.info("pixelguard: %s", f"paused until {until.isoformat()}" if until else "protection on")

    def sync_learned(self) -> None:
        try:
            self.shared.learner.sync(lists.learned_hosts(self.shared.cfg.learned_list))
        except Exception:
            log.exception("pixelguard: cannot read the learned list")
