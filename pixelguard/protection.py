"""The protection in effect for a config: the decision pipeline with everything it consults, set up once here
for the proxy and for ``pixelguard check`` alike, so that the two cannot drift."""

from __future__ import annotations

from dataclasses import dataclass

from pixelguard import cname, tls_policy
from pixelguard.config import Config
from pixelguard.decision.leaks import Identity
from pixelguard.decision.pipeline import Pipeline
from pixelguard.engine import Engine


@dataclass
class Protection:
    pipeline: Pipeline
    tls: tls_policy.Policy
    resolver: cname.Resolver | None


def build(cfg: Config, engine: Engine, mode: str | None = None) -> Protection:
    idn = cfg.identity
    pipeline = Pipeline(
        engine,
        identity=Identity(idn.emails, idn.phones, idn.country),
        mode=mode or cfg.proxy.mode,
        refuse_blocked_tunnels=cfg.tls.refuse_blocked,
    )
    policy = tls_policy.Policy(
        cfg.tls.passthrough,
        cfg.data_dir,
        cfg.tls.learn,
        named_by_lists=lambda host: pipeline.engine.names_host(host),  # the engine in use, after reloads too
    )
    pipeline.passthrough = policy.why
    resolver = cname.Resolver(cfg.cname.nameservers) if cname.enabled(cfg) else None
    if resolver is not None:
        pipeline.cname_chain = resolver.cached
    return Protection(pipeline, policy, resolver)
