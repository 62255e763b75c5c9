"""CNAME uncloaking: a request that passed is checked again with each canonical name of its host in the host's
place, as uBO does on Firefox. A block found that way is answered locally, recorded with reason ``cname`` and
the chain in its detail.

The hook is async: mitmproxy waits on the lookup (at most the resolver's timeout, 1 s) for this request only,
while every other flow goes on. Hosts whose chain is cached answer at once.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Coroutine
from typing import Any

from mitmproxy import http

from pixelguard import cname
from pixelguard.proxy import responses
from pixelguard.proxy.state import State, destination, flow_url, passed

log = logging.getLogger(__name__)


class CnameUncloaker:
    def __init__(self, state: State):
        self.state = state
        self.resolver: cname.Resolver | None = None

    def setup(self) -> None:
        cfg = self.state.cfg
        self.resolver = cname.Resolver(cfg.cname.nameservers) if cname.enabled(cfg) else None

    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        """Sync when there is nothing to look up; a coroutine (which mitmproxy awaits) when there is."""
        if flow.response or flow.error or not flow.live or self.resolver is None:
            return None
        meta = passed(flow)
        if meta is None or meta.get("allowed"):
            return None
        url, host = destination(flow.request)
        if not _has_public_name(host):
            return None
        return self._request(flow, meta, url, host)

    async def _request(self, flow: http.HTTPFlow, meta: dict, url: str, host: str) -> None:
        try:
            await self._uncloak(flow, meta, url, host)
        except Exception:
            log.exception("pixelguard: CNAME check failed, passing %s", flow_url(flow))

    async def _uncloak(self, flow: http.HTTPFlow, meta: dict, url: str, host: str) -> None:
        assert self.resolver is not None
        chain = await self.resolver.chain(host)
        if not chain or not flow.live:
            return
        st = self.state
        for name in chain:
            verdict = st.engine.check(
                url.replace(host, name, 1), meta.get("source"), meta["type"], flow.request.method
            )
            if verdict.blocked:
                meta.update(blocked=True, rule=verdict.rule, list=verdict.list, line=verdict.line)
                flow.response = responses.blocked(
                    meta["type"], url, host, verdict.rule, verdict.list, verdict.line
                )
                detail = " → ".join((host, *chain))
                st.event(
                    flow, url, host, meta["site"], meta["type"], "cname", "blocked", verdict, detail=detail
                )
                st.writer.count(seen=0, stopped=1)
                return


def _has_public_name(host: str) -> bool:
    """Only names DNS can answer for: not an address, not localhost, not a single label (never in DNS)."""
    if not host or "." not in host or host == "localhost" or host.endswith((".localhost", ".local")):
        return False
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return True
