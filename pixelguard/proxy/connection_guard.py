"""Bounds what one client, or all of them together, can hold of the proxy: connections (file descriptors), HTTP/2
stream resets, and request bodies held in memory. The budgets and why: limits.py.

mitmproxy keeps every live connection in its proxyserver addon, with the time of its last activity; a connection
is closed the way mitmproxy closes one that timed out (its handler task cancelled).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import deque
from typing import Any

import h2.events
import h2.exceptions
from mitmproxy import connection, ctx, http

from pixelguard.limits import (
    BODY_HOLD,
    CONNECTION_RESERVE_FDS,
    IDLE_EVICT_S,
    MAX_BODIES_IN_FLIGHT,
    MAX_CONNECTIONS,
    MAX_STREAM_RESETS,
    MAX_STREAMS_IN_FLIGHT,
    RECYCLE_AFTER_FLOWS,
    RESET_WINDOW_S,
)
from pixelguard.proxy.decider import body_size
from pixelguard.proxy.flow_note import killed
from pixelguard.proxy.inline_hooks import hook_tasks
from pixelguard.proxy.shared import Shared, failed

log = logging.getLogger(__name__)


def connection_limit() -> int:
    """How many client connections at once: half the file descriptors the process may open, less a reserve."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, (soft - CONNECTION_RESERVE_FDS) // 2))


def _handlers() -> dict[Any, Any]:
    server = ctx.master.addons.get("proxyserver")
    return getattr(server, "connections", {}) if server is not None else {}


def _close(handler: Any, why: str) -> bool:
    """Close a live client connection as mitmproxy closes one that timed out."""
    io = handler.transports.get(handler.client)
    task = getattr(io, "handler", None)
    if task is None or task.done():
        return False
    task.cancel(why)
    return True


def _drop_hooks(handler: Any) -> None:
    """Cancel the hooks a connection has queued. mitmproxy parses all a read brought (some 2,500 reset streams in
    one 64 KB read) before any hook runs, and runs each stream's hooks as a task of its own; on a connection being
    closed they would only keep every other client waiting (they were half the time a rapid reset cost)."""
    me = asyncio.current_task()
    for task in list(hook_tasks(handler)):
        if task is not me:
            task.cancel()


class _ResetWindow:
    """The stream resets a client sent on one HTTP/2 connection within the last RESET_WINDOW_S."""

    def __init__(self) -> None:
        self.batches: deque[tuple[float, int]] = deque()  # (when, resets in one read)
        self.total = 0

    def add(self, resets: int) -> int:
        now = time.monotonic()
        self.batches.append((now, resets))
        self.total += resets
        while now - self.batches[0][0] > RESET_WINDOW_S:
            self.total -= self.batches.popleft()[1]
        return self.total


def guard_h2_resets() -> None:
    """Count the streams a client resets where mitmproxy's HTTP/2 layer reads them, before any becomes a flow.

    One 64 KB read holds some 2,500 opened-and-reset streams, and mitmproxy turns every one into a flow with its
    hooks before a hook can see the first (ConnectionGuard below then closes the connection, but the read's
    flows have been paid for: up to a second in which every client waits). Past MAX_STREAM_RESETS the read is
    refused as an HTTP/2 protocol error instead: mitmproxy sends GOAWAY, closes the connection, and the read's
    streams are never begun. Only the client side's connection is counted (an origin may reset what it likes)."""
    try:
        from mitmproxy.proxy.layers.http._http_h2 import BufferedH2Connection
    except ImportError:  # mitmproxy moved it: ConnectionGuard's hooks still close the connection, later
        log.warning(
            "pixelguard: mitmproxy's HTTP/2 layer was not found: rapid resets are closed by hooks only"
        )
        return
    if getattr(BufferedH2Connection, "pixelguard_guarded", False):
        return
    receive = BufferedH2Connection.receive_data

    def receive_data(self: Any, data: bytes) -> Any:
        events = receive(self, data)
        if self.config.client_side:
            return events
        resets = sum(isinstance(e, h2.events.StreamReset) and e.remote_reset for e in events)
        if resets:
            window = self.__dict__.setdefault("pixelguard_resets", _ResetWindow())
            if window.add(resets) > MAX_STREAM_RESETS:
                log.warning("pixelguard: closed a connection: %d streams reset in %.0f s (rapid reset)",
                            window.total, RESET_WINDOW_S)  # fmt: skip
                raise h2.exceptions.ProtocolError("too many streams reset (rapid reset)")
        return events

    setattr(BufferedH2Connection, "receive_data", receive_data)  # noqa: B010 (mypy refuses a method assigned)
    setattr(BufferedH2Connection, "pixelguard_guarded", True)  # noqa: B010


class ConnectionGuard:
    def __init__(self, shared: Shared):
        self.shared = shared
        self.limit = connection_limit()
        self._resets: dict[str, deque[float]] = {}  # client connection -> when its streams failed (window)
        self._in_flight: dict[str, int] = {}  # client connection -> HTTP/2 streams begun, not yet ended
        self._condemned: set[str] = set()  # connections being closed: their requests are dropped at once
        # client connection -> requests begun on it (see RECYCLE_AFTER_FLOWS)
        self._served: dict[str, int] = {}
        self.evicted = 0  # connections closed to make room

    # --- connections ----------------------------------------------------------------------------------------

    def client_connected(self, client: connection.Client) -> None:
        """At capacity, the new connection gets in and the least recently active others make room, those silent
        for IDLE_EVICT_S first: parked sockets cannot lock a browser out, and a request in progress (recent
        activity) is the last to go."""
        try:
            conns = _handlers()
            over = len(conns) - self.limit
            if over <= 0:
                return
            now = time.time()
            others = [h for cid, h in conns.items() if cid != client.id]
            others.sort(key=lambda h: (now - h.timeout_watchdog.last_activity < IDLE_EVICT_S,
                                       h.timeout_watchdog.last_activity))  # fmt: skip
            closed = sum(
                _close(h, "pixelguard: closed to make room (too many connections)") for h in others[:over]
            )
            self.evicted += closed
            if closed:
                log.warning("pixelguard: %d connections open (limit %d): closed the %d least recently active",
                            len(conns), self.limit, closed)  # fmt: skip
        except Exception as e:
            failed("connection limit", e)

    def client_disconnected(self, client: connection.Client) -> None:
        if client.id in self._condemned:  # its streams' teardown (an error hook each) is dropped too
            _drop_hooks(_handlers().get(client.id))
        self._resets.pop(client.id, None)
        self._in_flight.pop(client.id, None)
        self._condemned.discard(client.id)
        self._served.pop(client.id, None)

    # --- HTTP/2 rapid reset ------------------------------------------------------------------------------------

    def _stream_began(self, flow: http.HTTPFlow) -> None:
        cid = flow.client_conn.id
        n = self._in_flight[cid] = self._in_flight.get(cid, 0) + 1
        if n > MAX_STREAMS_IN_FLIGHT:
            self._shut(cid, f"{n} requests begun and none answered")

    def _stream_ended(self, flow: http.HTTPFlow, failed_stream: bool) -> None:
        cid = flow.client_conn.id
        if cid in self._in_flight:
            self._in_flight[cid] -= 1
        if not failed_stream:
            return
        now = time.monotonic()
        window = self._resets.setdefault(cid, deque())
        window.append(now)
        while window and now - window[0] > RESET_WINDOW_S:
            window.popleft()
        if len(window) > MAX_STREAM_RESETS:
            self._shut(cid, f"{len(window)} requests reset or failed in {RESET_WINDOW_S:.0f} s")

    def _shut(self, cid: str, why: str) -> None:
        if cid in self._condemned:
            return
        self._condemned.add(cid)
        handler = _handlers().get(cid)
        if handler is not None and _close(handler, f"pixelguard: {why}"):
            _drop_hooks(handler)
            log.warning("pixelguard: closed a connection: %s (rapid reset)", why)
        self._resets.pop(cid, None)
        self._in_flight.pop(cid, None)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """An HTTP/1 connection that has served RECYCLE_AFTER_FLOWS requests is asked to close after this one."""
        if (
            flow.response is not None
            and flow.request.http_version.startswith("HTTP/1")
            and self._served.get(flow.client_conn.id, 0) >= RECYCLE_AFTER_FLOWS
        ):
            flow.response.headers["Connection"] = "close"

    def response(self, flow: http.HTTPFlow) -> None:
        try:
            self._stream_ended(flow, False)
            cid = flow.client_conn.id
            if flow.response is not None and flow.request.http_version.startswith("HTTP/1"):
                self.responseheaders(flow)  # a response pixelguard made itself never passed responseheaders
            elif self._served.get(cid, 0) >= RECYCLE_AFTER_FLOWS and not self._in_flight.get(cid):
                handler = _handlers().get(cid)
                if handler is not None:
                    _close(handler, "pixelguard: served its share of requests, closed when idle")
        except Exception as e:
            failed("stream limit", e)

    def error(self, flow: http.HTTPFlow) -> None:
        try:
            if flow.request.http_version.startswith("HTTP/2"):
                # A request pixelguard killed (a blocked upload) ended by its decision, not the client's reset.
                self._stream_ended(flow, not killed(flow))
        except Exception as e:
            failed("stream reset limit", e)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """First of pixelguard's hooks: a request on a connection this guard is closing is dropped at once,
        before the pipeline or an upstream connection spends anything on it."""
        if flow.error or not flow.live:
            return
        try:
            cid = flow.client_conn.id
            if cid in self._condemned:
                flow.kill()
                return
            self._served[cid] = self._served.get(cid, 0) + 1
            if flow.request.http_version.startswith("HTTP/2"):
                self._stream_began(flow)
        except Exception as e:
            failed("stream limit", e)


class BodyBudget:
    """Request bodies held in memory at once, bounded (MAX_BODIES_IN_FLIGHT). Runs after the decider: a request
    it answered locally still has its body (up to BODY_HOLD) read and held by mitmproxy."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self._held: dict[str, tuple[str, int]] = {}  # flow id -> (client connection id, bytes held)
        self._held_total = 0
        self.evicted = 0

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.error or not flow.live:
            return
        try:
            size = body_size(flow.request)
            if not size:
                return  # no body, or one of unknown length (streamed through the decider's gate, bounded)
            held = min(size, BODY_HOLD)
            if self._held_total + held > MAX_BODIES_IN_FLIGHT:
                self._evict_idle_holders(self._held_total + held - MAX_BODIES_IN_FLIGHT)
            if self._held_total + held > MAX_BODIES_IN_FLIGHT:
                # Killed, not answered: an answer would still have mitmproxy read (and hold) the whole body first.
                log.warning("pixelguard: request bodies in flight over %d MB: a request with one was cut",
                            MAX_BODIES_IN_FLIGHT >> 20)  # fmt: skip
                flow.kill()
                return
            self._held[flow.id] = (flow.client_conn.id, held)
            self._held_total += held
        except Exception as e:
            failed("body budget", e)

    def request(self, flow: http.HTTPFlow) -> None:
        self._release(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._release(flow)

    def _release(self, flow: http.HTTPFlow) -> None:
        got = self._held.pop(flow.id, None)
        if got is not None:
            self._held_total -= got[1]

    def _evict_idle_holders(self, need: int) -> None:
        conns = _handlers()
        now = time.time()
        holders: dict[str, int] = {}
        for cid, held in self._held.values():
            holders[cid] = holders.get(cid, 0) + held
        idle = sorted(
            (cid for cid in holders if cid in conns
             and now - conns[cid].timeout_watchdog.last_activity >= IDLE_EVICT_S),
            key=lambda cid: conns[cid].timeout_watchdog.last_activity,
        )  # fmt: skip
        freed = 0
        for cid in idle:
            if freed >= need:
                break
            if _close(conns[cid], "pixelguard: idle with a body in flight, closed to make room"):
                freed += holders[cid]
                self.evicted += 1
                for fid in [f for f, (c, _) in self._held.items() if c == cid]:
                    self._held_total -= self._held.pop(fid)[1]
