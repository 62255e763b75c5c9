"""What the proxy's addons share: the config, the decision pipeline (with the engine in use), the recorder, the
pixel learner, the CNAME resolver and the TLS policy.

One object, made by the parent addon (addon.py) and handed to each small addon, so that none of them reaches
into another. The engine is replaced by one reference swap on the pipeline (reloader.py): a hook sees the old
engine or the new one, never half of each.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pixelguard.decision.pipeline import Pipeline
from pixelguard.decision.pixel_learner import Learner
from pixelguard.decision.schema_learner import SchemaLearner

if TYPE_CHECKING:
    from pixelguard.cname import Resolver
    from pixelguard.config import Config
    from pixelguard.engine import Engine
    from pixelguard.proxy.recorder import Recorder
    from pixelguard.tls_policy import Policy

# Content types under which a tracking pixel hides besides image/*: missing, generic binary, plain text.
SNIFF_TYPES = ("", "application/octet-stream", "binary/octet-stream", "text/plain", "application/unknown")
# mitmproxy streams bodies bigger than this instead of holding them (stream_large_bodies). A request body up to
# it is held whole and decided on before anything leaves; see limits.BODY_HOLD for why that size.
STREAM_LARGER_THAN = "256k"

log = logging.getLogger("pixelguard.proxy")


class Shared:
    """Made empty with the addons (mitmproxy registers them before any option is known); ``setup`` fills it in
    ``configure``, before the first flow."""

    cfg: Config
    recorder: Recorder

    def __init__(self) -> None:
        self.mode = "full"  # full | hosts-only
        self.learner = Learner()
        self.schema_learner = SchemaLearner()
        self.written_learned: set[str] = set()  # pending hosts whose rule is on disk
        self.learn_lock = threading.Lock()
        self.pipeline: Pipeline | None = None
        self.resolver: Resolver | None = None
        self.tls: Policy | None = None

    def setup(self, cfg: Config, engine: Engine, recorder: Recorder, mode: str) -> None:
        from pixelguard import dns_health, protection

        self.cfg, self.recorder, self.mode = cfg, recorder, mode
        self.learner = Learner(cfg.pixels.learn_after)
        self.schema_learner = SchemaLearner(cfg.pixels.learn_after)
        built = protection.build(cfg, engine, mode)
        self.tls, self.resolver = built.tls, built.resolver
        if self.resolver is not None:
            self.resolver.watch = dns_health.Watch(cfg.data_dir)
        recorder.identity = built.pipeline.identity
        self.pipeline = built.pipeline
        if mode == "hosts-only":
            # Said at start: with the default lists, which block by path, this mode stops little.
            log.warning(
                "pixelguard: hosts-only mode: HTTPS is not decrypted, so only rules that block a whole host apply "
                "(%d hosts of %d rules); path rules, most of EasyPrivacy's, need full mode (proxy.mode: full)",
                engine.whole_host_count(),
                engine.rule_count,
            )

    @property
    def engine(self) -> Engine:
        assert self.pipeline is not None
        return self.pipeline.engine

    @property
    def pending_learned(self) -> dict[str, str]:
        assert self.pipeline is not None
        return self.pipeline.pending_learned  # type: ignore[return-value]


class Failures:
    """Fail open, loudly but briefly: one log line per failure, naming where it happened, never what the request
    carried (an exception's message may quote the URL or body, so it is left out), and the same failure at
    most once a minute with a count of the repeats (a hostile stream of bad bodies must not wipe the log)."""

    EVERY = 60.0

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, str], tuple[float, int]] = {}

    def __call__(self, what: str, exc: BaseException) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
        key = (what, type(exc).__name__, where)
        now = time.monotonic()
        last, repeats = self._last.get(key, (0.0, 0))
        if now - last < self.EVERY:
            self._last[key] = (last, repeats + 1)
            return
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = (now, 0)
        more = f" ({repeats} more since the last report)" if repeats else ""
        log.error(
            "pixelguard: %s failed: %s at %s; the request passes%s", what, type(exc).__name__, where, more
        )


failed = Failures()


def guarded(what: str, hook: Callable[..., None], *args: Any) -> None:
    """Run one addon's work on a flow, failing open: pixelguard's own bug lets the flow pass, logged by failed."""
    try:
        hook(*args)
    except Exception as e:
        failed(what, e)
