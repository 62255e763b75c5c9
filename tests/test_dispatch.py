"""The hook dispatch `pixelguard run` uses (proxy/dispatch.py): the same handlers in the same order as
mitmproxy's own AddonManager, kept current when addons come and go, with mitmproxy's error rules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from mitmproxy import exceptions, hooks, master, options
from mitmproxy.http import HTTPFlow
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.test import tflow

from pixelguard.proxy.dispatch import HookCache


class Recorder:
    def __init__(self, name: str, calls: list[str], children: list[Any] | None = None) -> None:
        self.name, self.calls = name, calls
        if children is not None:
            self.addons = children

    def request(self, flow: HTTPFlow) -> None:
        self.calls.append(f"{self.name}.request")

    def client_connected(self, client: Any) -> None:
        self.calls.append(f"{self.name}.client_connected")


class AsyncRecorder(Recorder):
    async def request(self, flow: HTTPFlow) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.calls.append(f"{self.name}.request (async)")


class Updates:
    name = "updates"

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def update(self, flows: list[Any]) -> None:
        self.calls.append(f"update {len(flows)}")


def _tree(calls: list[str]) -> list[Any]:
    return [
        Recorder("a", calls, [Recorder("a1", calls), Recorder("a2", calls, [AsyncRecorder("a21", calls)])]),
        Recorder("b", calls),
        Recorder("c", calls, []),
    ]


@contextlib.contextmanager
def _master(cached: bool) -> Iterator[master.Master]:
    m = master.Master(options.Options(), with_termlog=False)
    if cached:
        HookCache.adopt(m.addons)
    try:
        yield m
    finally:  # its log handler (mitmproxy 11's legacy log events) would outlive this test's event loop
        legacy = getattr(m, "_legacy_log_events", None)
        if legacy is not None:
            legacy.uninstall()


async def _fire(cached: bool, event: hooks.Hook, tree: list[Any], *extra: Any) -> None:
    with _master(cached) as m:
        m.addons.add(*tree, *extra)
        await m.addons.handle_lifecycle(event)


def test_the_same_handlers_run_in_the_same_order_as_mitmproxys_own() -> None:
    events = [
        HttpRequestHook(tflow.tflow()),
        server_hooks.ClientConnectedHook(tflow.tclient_conn()),
        hooks.UpdateHook([tflow.tflow()]),
    ]
    for event in events:
        theirs: list[str] = []
        ours: list[str] = []
        asyncio.run(_fire(False, event, _tree(theirs), Updates(theirs)))
        asyncio.run(_fire(True, event, _tree(ours), Updates(ours)))
        assert ours == theirs and ours, event


def test_a_flow_hook_is_followed_by_update_only_when_an_addon_handles_it() -> None:
    flow = tflow.tflow()
    calls: list[str] = []
    asyncio.run(_fire(True, HttpRequestHook(flow), _tree(calls), Updates(calls)))
    assert calls[-1] == "update 1" and "a21.request (async)" in calls
    calls.clear()
    asyncio.run(_fire(True, HttpRequestHook(flow), _tree(calls)))
    assert calls and not any(c.startswith("update") for c in calls)


def test_an_addon_registered_or_removed_later_is_seen_at_the_next_hook() -> None:
    async def run() -> list[str]:
        calls: list[str] = []
        with _master(True) as m:
            first = Recorder("first", calls)
            m.addons.add(first)
            hook = HttpRequestHook(tflow.tflow())
            await m.addons.handle_lifecycle(hook)
            m.addons.add(Recorder("late", calls))
            await m.addons.handle_lifecycle(hook)
            m.addons.remove(first)
            await m.addons.handle_lifecycle(hook)
        return calls

    assert asyncio.run(run()) == ["first.request", "first.request", "late.request", "late.request"]


def test_sub_addons_rearranged_when_options_change_are_called_in_their_new_order() -> None:
    """mitmproxy's script loader reorders its scripts in place when the scripts option changes."""

    async def run() -> list[str]:
        calls: list[str] = []
        with _master(True) as m:
            parent = Recorder("parent", calls, [Recorder("x", calls), Recorder("y", calls)])
            m.addons.add(parent)
            hook = HttpRequestHook(tflow.tflow())
            await m.addons.handle_lifecycle(hook)
            parent.addons.reverse()
            m.addons.trigger(hooks.ConfigureHook(set()))
            await m.addons.handle_lifecycle(hook)
        return calls

    assert asyncio.run(run()) == [
        "parent.request", "x.request", "y.request", "parent.request", "y.request", "x.request"
    ]  # fmt: skip


class Halting(Recorder):
    def request(self, flow: HTTPFlow) -> None:
        self.calls.append("halt")
        raise exceptions.AddonHalt


class Failing(Recorder):
    def request(self, flow: HTTPFlow) -> None:
        self.calls.append("fail")
        raise ValueError("broken addon")


class Refusing(Recorder):
    def request(self, flow: HTTPFlow) -> None:
        raise exceptions.OptionsError("bad option")


def test_errors_follow_mitmproxys_rules(caplog: pytest.LogCaptureFixture) -> None:
    hook = HttpRequestHook(tflow.tflow())
    calls: list[str] = []
    asyncio.run(_fire(True, hook, [Halting("h", calls), Recorder("after", calls)]))
    assert calls == ["halt"]  # AddonHalt: the hook stops there
    calls.clear()
    with caplog.at_level(logging.ERROR, logger="mitmproxy.addonmanager"):
        asyncio.run(_fire(True, hook, [Failing("f", calls), Recorder("after", calls)]))
    assert calls == ["fail", "after.request"]  # logged, and the next handler runs
    assert any("Addon error: broken addon" in r.getMessage() and r.exc_info for r in caplog.records)
    with pytest.raises(exceptions.OptionsError):
        asyncio.run(_fire(True, hook, [Refusing("r", calls)]))
