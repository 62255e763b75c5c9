"""The protection in effect for a config: the decision pipeline with everything it consults, set up once here
for the proxy and for ``pixelguard check`` alike, so that the two cannot drift."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from pixelguard import cname, tls_policy
from pixelguard.config import Config, ListSpec
from pixelguard.decision.leaks import Identity
from pixelguard.decision.pipeline import Pipeline
from pixelguard.engine import Engine

# Where uBO publishes its lists: a list downloaded from there is uBO's own, trusted as uBO trusts it.
UBO_LIST_HOSTS = ("ublockorigin.github.io", "ublockorigin.pages.dev")
UBO_LIST_PATHS = ("/gh/ublockorigin/", "/ublockorigin/")  # jsDelivr and raw.githubusercontent.com mirrors


def trusted_list(spec: ListSpec) -> bool:
    """Is a list one whose ``$urlskip`` rules pixelguard follows? Its own and uBO's
    (decision/urlskip.py says why not every list's)."""
    if spec.bundled:
        return True
    if not spec.url:
        return False
    parts = urlsplit(spec.url.lower())
    return parts.hostname in UBO_LIST_HOSTS or any(p in parts.path for p in UBO_LIST_PATHS)


def trusted_lists(cfg: Config) -> frozenset[str]:
    """The engine's names (file stems) of the lists whose ``$urlskip`` rules are followed; the user's list too."""
    names = {spec.file.stem for spec in cfg.enabled_lists() if trusted_list(spec)}
    return frozenset(names | {cfg.user_list.stem})


# The kinds of company in the entity table (entities.py) whose hosts get header hygiene when they pass.
TRACKER_CATEGORIES = frozenset({"ad", "analytics", "marketing"})


@functools.lru_cache(maxsize=4096)
def tracker_host(host: str) -> bool:
    """Is ``host`` an advertising, analytics or marketing company's (third-party-web's entity table)?"""
    from pixelguard import entities

    found = entities.lookup(host)
    return found is not None and found.category in TRACKER_CATEGORIES


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
        urlskip_lists=trusted_lists(cfg),
        redact_allowed=cfg.privacy.redact_allowed,
        header_hygiene=cfg.privacy.header_hygiene,
        tracker_host=tracker_host,
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
