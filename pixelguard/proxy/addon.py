"""pixelguard as mitmproxy addons: one small addon per job, composed here, as mitmproxy's own are.

Usable as ``mitmdump -s pixelguard/proxy/addon.py [--set pixelguard_config=PATH]`` or embedded by
``pixelguard run``; both use this composition. The parent reads the config and sets up what its children share
(state.py); the children, in the order their request hooks run:

- tls_policy.TlsPolicy: sensitive and pinned hosts passed through undecrypted (judged at CONNECT by host);
- blocker.Blocker: verdicts and local answers (and hosts-only mode's CONNECT refusals);
- leaks.LeakAlarm: the user's own identifiers (identity in the config) never go to a third party;
- cname.CnameUncloaker: the request checked again under each canonical name of its host (async lookup);
- params.ParamStripper: $removeparam on requests that pass (a 307 for page loads);
- gpc.Gpc: Sec-GPC: 1 on requests that go upstream;
- pixels.PixelReplacer: 1x1 images replaced on the way back, their hosts learned;

and reloader.Reloader follows list, config and pause files in a thread. Every hook fails open: an exception
lets the flow pass and is logged with its URL. Events go to the store's writer queue (never SQLite in a hook).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from typing import Any

from mitmproxy import ctx, exceptions

from pixelguard import config as configmod
from pixelguard.errors import PixelguardError
from pixelguard.proxy.blocker import Blocker
from pixelguard.proxy.cname import CnameUncloaker
from pixelguard.proxy.gpc import Gpc
from pixelguard.proxy.leaks import LeakAlarm
from pixelguard.proxy.params import ParamStripper
from pixelguard.proxy.pixels import PixelReplacer
from pixelguard.proxy.reloader import Reloader, build_engine
from pixelguard.proxy.state import STREAM_LARGER_THAN, State
from pixelguard.proxy.tls_policy import TlsPolicy

__all__ = ["STREAM_LARGER_THAN", "Pixelguard"]

log = logging.getLogger(__name__)


class Pixelguard:
    def __init__(self, cfg: configmod.Config | None = None, *, mode: str | None = None) -> None:
        self._given_cfg = cfg  # given when embedded; else read from the pixelguard_config option
        self._mode_override = mode
        self.state = State()
        self.reloader: Reloader | None = None
        self._files: concurrent.futures.ThreadPoolExecutor | None = None
        self.cname = CnameUncloaker(self.state)
        self.tls = TlsPolicy(self.state)
        self.addons = [
            self.tls,
            Blocker(self.state),
            LeakAlarm(self.state),
            self.cname,
            ParamStripper(self.state),
            Gpc(self.state),
            PixelReplacer(self.state, self._submit, self._wake),
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
        # and again when the config path changes.
        if self.configured and "pixelguard_config" not in updated:
            return
        self._shutdown()
        try:
            path = _option("pixelguard_config")
            cfg = self._given_cfg if self._given_cfg is not None and not path else configmod.load(path)
            engine = build_engine(cfg)
            from pixelguard.store.writer import Writer

            # Inside the try: a corrupt database is the user's to fix, reported in one line (never replaced).
            writer = self.state.writer if getattr(self.state, "writer", None) else None
            if writer is None:
                writer = Writer(cfg.database, retention_days=cfg.log.retention_days)
                writer.start()
        except PixelguardError as e:
            raise exceptions.OptionsError(str(e)) from e
        except Exception as e:
            raise exceptions.OptionsError(f"pixelguard: cannot build the filter engine: {e}") from e
        self.state.setup(cfg, engine, writer, self._mode_override or cfg.proxy.mode)
        self.cname.setup()
        self.tls.setup()
        self._files = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="pixelguard-files"
        )
        self.reloader = Reloader(self.state, cfg.source or configmod.locate(path))
        self.reloader.start()
        if self.start_updates:
            # Subscriptions the user enabled are kept current in the background (the only downloads).
            import threading

            from pixelguard import update

            self._stop_updates = threading.Event()
            update.start_background_updater(cfg, self._stop_updates)
        log.info(
            "pixelguard: %s mode, lists: %s", self.state.mode, ", ".join(p.stem for p in cfg.filter_files())
        )

    def done(self) -> None:
        self._shutdown()
        writer = getattr(self.state, "writer", None)
        if writer is not None:
            writer.close()
            del self.state.writer

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
