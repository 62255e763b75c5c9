"""pixelguard as mitmproxy addons: thin adapters over the decision pipeline, composed here.

Usable as ``mitmdump -s pixelguard/proxy/addon.py [--set pixelguard_config=PATH]`` or embedded by
``pixelguard run``; both use this composition. The parent reads the config and sets up what its children share
(shared.py: the pipeline, the recorder, the learner, the resolver, the TLS policy); the children:

- connection_guard.ConnectionGuard: connections and HTTP/2 streams (rapid reset) bounded, first of all;
- header_hygiene.HeaderHygiene: obs-folded header lines unfolded, both ways (RFC 9112, 5.2);
- connect.ConnectPolicy: CONNECT tunnels decided by host; TLS passthrough and learning pinned clients;
- test_page.TestPage: http://pixelguard.test/, the built-in test page (proxy, CA, blocking), answered here;
- decider.RequestDecider: one request model, one Decision from the pipeline, applied before anything leaves;
- connection_guard.BodyBudget: request bodies held in memory at once, bounded;
- gpc.Gpc: Sec-GPC: 1 on requests that go upstream;
- pixel_replacer.PixelReplacer: 1x1 images replaced on the way back, their hosts learned;
- tls_sessions.UpstreamSessions: TLS sessions with servers resumed, kept apart per site;
- raw_relays.RawRelays: tunnels that carry something other than HTTP, relayed as raw bytes, recorded;

recorder.Recorder writes every event and counter, and reloader.Reloader follows list, config and pause files in
a thread. Every hook fails open on pixelguard's own bugs: the flow passes and one line is logged, without the
request's data. Events go to the store's writer queue (never SQLite in a hook).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from typing import Any

from mitmproxy import ctx, exceptions

from pixelguard import config as configmod
from pixelguard.errors import PixelguardError
from pixelguard.proxy.connect import ConnectPolicy
from pixelguard.proxy.connection_guard import BodyBudget, ConnectionGuard
from pixelguard.proxy.decider import RequestDecider
from pixelguard.proxy.gpc import Gpc
from pixelguard.proxy.header_hygiene import HeaderHygiene
from pixelguard.proxy.interpreter import freeze_heap
from pixelguard.proxy.pixel_replacer import PixelReplacer
from pixelguard.proxy.raw_relays import RawRelays
from pixelguard.proxy.recorder import Recorder
from pixelguard.proxy.reloader import Reloader, build_engine
from pixelguard.proxy.shared import STREAM_LARGER_THAN, Shared
from pixelguard.proxy.test_page import TestPage
from pixelguard.proxy.tls_sessions import UpstreamSessions

__all__ = ["STREAM_LARGER_THAN", "Pixelguard"]

log = logging.getLogger(__name__)


class Pixelguard:
    def __init__(
        self, cfg: configmod.Config | None = None, *, mode: str | None = None, guard_first: bool = False
    ) -> None:
        self._given_cfg = cfg  # given when embedded; else read from the pixelguard_config option
        self._mode_override = mode
        self.shared = Shared()
        self.reloader: Reloader | None = None
        self._files: concurrent.futures.ThreadPoolExecutor | None = None
        self._writer: Any = None
        # The guard drops a condemned connection's requests at their first hook. `pixelguard run` registers it
        # ahead of mitmproxy's own addons (guard_first), so that such a request costs the least it can; as a
        # mitmdump script it is the first of pixelguard's.
        self.guard = ConnectionGuard(self.shared)
        self.addons = [
            *([] if guard_first else [self.guard]),
            HeaderHygiene(),
            ConnectPolicy(self.shared),
            TestPage(self.shared),  # http://pixelguard.test/: answered here, before anything decides on it
            RequestDecider(self.shared, self._submit, self._wake),
            BodyBudget(self.shared),
            Gpc(self.shared),
            PixelReplacer(self.shared, self._submit, self._wake),
            UpstreamSessions(),
            RawRelays(self.shared),
        ]
        # Background list downloads: on for `pixelguard run`/`pixelguard`; tests switch them off.
        self.start_updates = os.environ.get("PIXELGUARD_NO_UPDATES") != "1"
        self._stop_updates: Any = None

    @property
    def configured(self) -> bool:
        return self.reloader is not None

    def load(self, loader: Any) -> None:
        loader.add_option(
            "pixelguard_config",
            str | None,
            None,
            """
            Path of pixelguard's YAML config (default: $PIXELGUARD_CONFIG, else the platform config dir).
            Ignored when pixelguard embeds mitmproxy itself (`pixelguard run`), which passes its config.
            """,
        )

    def configure(self, updated: set[str]) -> None:
        # Set up on the first call (mitmproxy passes only changed options, so that may name none of ours)
        # and again when the config path changes. Everything new is built before anything running is stopped:
        # a config or list that does not build leaves the proxy serving as it was, reloader and all.
        if self.configured and "pixelguard_config" not in updated:
            return
        from pixelguard.store.writer import Writer

        writer = None
        try:
            path = _option("pixelguard_config")
            cfg = self._given_cfg if self._given_cfg is not None and not path else configmod.load(path)
            engine = build_engine(cfg)
            # A corrupt database is the user's to fix, reported in one line (never replaced). A config naming
            # another database gets a writer of its own; the old one is flushed and closed below.
            if self._writer is None or self._writer.db_path != cfg.database:
                writer = Writer(cfg.database, retention_days=cfg.log.retention_days)
                writer.start()
        except PixelguardError as e:
            raise exceptions.OptionsError(str(e)) from e
        except Exception as e:
            raise exceptions.OptionsError(f"pixelguard: cannot build the filter engine: {e}") from e
        self._shutdown()
        if writer is not None:
            if self._writer is not None:
                self._writer.close()
            self._writer = writer
        assert self._writer is not None
        self.shared.setup(cfg, engine, Recorder(self._writer), self._mode_override or cfg.proxy.mode)
        self._files = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="pixelguard-files"
        )
        self.reloader = Reloader(self.shared, cfg.source or configmod.locate(path))
        self.reloader.start()
        if self.start_updates:
            # Subscriptions the user enabled are kept current in the background (the only downloads).
            import threading

            from pixelguard import update

            self._stop_updates = threading.Event()
            update.start_background_updater(cfg, self._stop_updates)
        freeze_heap()  # the new engine, and what this process keeps for good (proxy/interpreter.py)
        log.info(
            "pixelguard: %s mode, lists: %s", self.shared.mode, ", ".join(p.stem for p in cfg.filter_files())
        )

    def done(self) -> None:
        self._shutdown()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _shutdown(self) -> None:
        if self._stop_updates is not None:
            self._stop_updates.set()
            self._stop_updates = None
        if self.reloader is not None:
            self.reloader.stop()
            self.reloader = None
        if self._files is not None:
            self._files.shutdown(wait=True)
            self._files = None

    def _submit(self, fn: Any, *args: Any) -> None:
        if self._files is not None:
            self._files.submit(fn, *args)

    def _wake(self) -> None:
        if self.reloader is not None:
            self.reloader.wake()


def _option(name: str) -> str | None:
    try:
        return getattr(ctx.options, name)
    except AttributeError:
        return None


addons = [Pixelguard()]
