"""mitmproxy's hook dispatch, with the handlers of each hook found once instead of at every call.

mitmproxy's AddonManager finds a hook's handlers anew each time it fires: it walks the whole addon tree, asks each
addon for an attribute of the hook's name, enters a guard (a generator-based context manager) per top-level addon
whether it handles the hook or not, reads the hook's arguments through ``dataclasses.fields``, and then fires an
``update`` hook the same way after every flow hook. An HTTPS request fires some fifteen hooks; on the HTTPS
page-load benchmark this bookkeeping was about an eighth of the proxy's CPU (py-spy, issue 25).

``HookCache`` keeps, per hook name, the handlers in the order mitmproxy would call them, and forgets them all when
an addon is registered or removed (scripts load and unload through them too; pixelguard's own addon tree is fixed
when it is built) and after options change (the script loader reorders its scripts then, in place). Each handler runs as mitmproxy runs it:
awaited when it returns an awaitable; ``AddonHalt`` stops the hook; ``OptionsError`` goes up to the caller; any
other error is logged with its traceback and the next handler runs. One difference, on purpose: mitmproxy skips
the remaining handlers of an addon's sub-addons after one of them fails; here each handler is guarded alone.
``lifecycle_now`` runs a hook's handlers without waiting until one returns an awaitable, so that a hook whose
handlers all return at once can complete in the step that raised it (proxy/inline_hooks.py).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from mitmproxy import exceptions, flow, hooks
from mitmproxy.addonmanager import AddonManager

log = logging.getLogger("mitmproxy.addonmanager")  # where mitmproxy logs an addon's error

_FIELDS: dict[type, tuple[str, ...]] = {}
_UPDATE = hooks.UpdateHook([])  # to look the "update" handlers up; they are called with [flow], as its args


def hook_args(event: hooks.Hook) -> list[Any]:
    """``event.args()`` without ``dataclasses.fields`` at each call."""
    names = _FIELDS.get(type(event))
    if names is None:
        names = _FIELDS[type(event)] = tuple(f.name for f in dataclasses.fields(event))  # type: ignore[arg-type]
    return [getattr(event, n) for n in names]


class HookCache(AddonManager):
    """An AddonManager whose hooks go straight to their handlers (see the module's docstring)."""

    _handlers: dict[str, list[Callable[..., Any]]]

    @classmethod
    def adopt(cls, manager: AddonManager) -> HookCache:
        """Turn a Master's own manager into one: it keeps its addons and its link to option changes."""
        manager.__class__ = cls
        assert isinstance(manager, HookCache)
        manager._handlers = {}
        return manager

    def register(self, addon: Any) -> Any:
        self._handlers = {}
        return super().register(addon)

    def remove(self, addon: Any) -> None:
        self._handlers = {}
        super().remove(addon)

    def clear(self) -> None:
        self._handlers = {}
        super().clear()

    def trigger(self, event: hooks.Hook) -> None:
        super().trigger(event)
        if event.name == "configure":  # options changed: an addon may have rearranged its sub-addons
            self._handlers = {}

    def handlers(self, event: hooks.Hook) -> list[Callable[..., Any]]:
        found = self._handlers.get(event.name)
        if found is None:
            found = [func for top in self.chain for _, func in self._iter_hooks(top, event)]
            self._handlers[event.name] = found
        return found

    async def trigger_event(self, event: hooks.Hook) -> None:
        rest = _fire_now(self.handlers(event), hook_args(event))
        if rest is not None:
            await rest

    def lifecycle_now(self, event: hooks.Hook) -> Coroutine[Any, Any, None] | None:
        """``handle_lifecycle`` run as far as it goes without waiting: None once every handler (and ``update``'s,
        for a flow) has returned, else a coroutine that awaits what one returned and runs the rest."""
        args = hook_args(event)
        rest = _fire_now(self.handlers(event), args)
        if args and isinstance(args[0], flow.Flow):
            update = self.handlers(_UPDATE)
            if update:  # usually none in a proxy without a UI: then the hook costs nothing more
                if rest is None:
                    return _fire_now(update, [[args[0]]])
                return _resume(rest, update, [[args[0]]])
        return rest

    async def handle_lifecycle(self, event: hooks.Hook) -> None:
        rest = self.lifecycle_now(event)
        if rest is not None:
            await rest


def _fire_now(handlers: list[Callable[..., Any]], args: list[Any]) -> Coroutine[Any, Any, None] | None:
    """Call ``handlers`` in turn under mitmproxy's error rules until one returns an awaitable: then the coroutine
    that awaits it and goes on with the rest is returned (None when none did)."""
    for i, func in enumerate(handlers):
        try:
            res = func(*args)
            if res is not None and inspect.isawaitable(res):
                return _resume(res, handlers[i + 1 :], args)
        except Exception as e:
            if _halts(e):
                return None
    return None


def _halts(e: Exception) -> bool:
    """mitmproxy's rules for a handler's error: ``AddonHalt`` stops the hook (True), ``OptionsError`` goes up to
    the caller, any other is logged with its traceback and the next handler runs (False)."""
    if isinstance(e, exceptions.AddonHalt):
        return True
    if isinstance(e, exceptions.OptionsError):
        raise e
    log.error(f"Addon error: {e}", exc_info=True)
    return False


async def _resume(pending: Awaitable[Any], handlers: list[Callable[..., Any]], args: list[Any]) -> None:
    """Await what a handler returned (or the rest of a hook, before ``update``'s handlers), then go on with
    ``handlers`` under the same rules."""
    try:
        await pending
    except Exception as e:
        if _halts(e):
            return
    rest = _fire_now(handlers, args)
    if rest is not None:
        await rest
