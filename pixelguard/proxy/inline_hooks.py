"""A hook whose handlers all return at once is run at once, in the step of the event loop that raised it, instead
of in a task of its own that runs a step later.

mitmproxy runs every hook a connection's layers raise as an asyncio task, and feeds the layer the hook's
completion from that task. An HTTPS request raises a dozen hooks one after another (next_layer three times, the
TLS hooks of both legs, requestheaders, request, responseheaders, response, ...), and each waits for a turn of the
event loop: behind every other connection's ready work, so the busier the proxy, the longer each request waits
between its own steps. The task itself (created, named, watched by the connection's timeout watchdog) was some 3%
of the proxy's CPU on `scripts/bench-pageload --https`. pixelguard's handlers, and the mitmproxy addons it keeps,
return at once, except a request whose CNAME is still to be looked up (and mitm.it's, below).

Here, the commands the connection's top layer yields for one event are passed on to mitmproxy as before, except its
hooks: those are held until the layer has yielded everything for that event (where mitmproxy would have created
their tasks; their tasks would have run only after it), then run in order (proxy/dispatch.py's
``HookCache.lifecycle_now``). A hook whose handlers all returned, and whose flow no handler intercepted, is
complete: its completion is fed to the layer as soon as mitmproxy's ``server_event`` for the current event has
returned (never from inside it: mitmproxy's layers must not be re-entered, mitmproxy issue 7027). A hook one of
whose handlers returned an awaitable, or whose flow waits to be resumed, goes on in a task as mitmproxy's would,
with the connection's timeout watchdog disarmed meanwhile.

A wakeup a layer asks for as a ``TimedWakeup`` is timed here too, by the event loop's timer alone: mitmproxy starts
a task for every wakeup, which sleeps and then feeds the layer its event, and such a task woke the proxy a second
after every tunnel had opened (proxy/server_first.py), though nearly every tunnel had long been decided by then.

The top layer's events are handed on from here, so this is also where a CONNECT tunnel, once established, has its
events sent straight to its own layers (proxy/tunnel_shortcut.py).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Coroutine, Iterator
from typing import Any

from mitmproxy import ctx, flow
from mitmproxy.addons import onboarding
from mitmproxy.proxy import commands, events
from mitmproxy.proxy.layers.http import HttpConnectedHook
from mitmproxy.utils import asyncio_utils

from pixelguard.proxy import tunnel_shortcut
from pixelguard.proxy.corked_writes import send_kept
from pixelguard.proxy.dispatch import HookCache, hook_args

log = logging.getLogger(__name__)

# A connection handler's hooks completed inline whose completion is not yet fed to its layer.
_DONE = "_pixelguard_hooks_done"
# Set on a connection handler once its CONNECT tunnel's http_connected hook has run: its tunnel may be shortened.
_TUNNEL = "_pixelguard_tunnel"
# mitmproxy 12's create_task asks whether to keep a reference to the task (it has no default); 11's has no such
# argument. hook_tasks keeps one here.
_KEEP_REF: dict[str, bool] = (
    {"keep_ref": False} if "keep_ref" in inspect.signature(asyncio_utils.create_task).parameters else {}
)


class TimedWakeup(commands.RequestWakeup):
    """A wakeup timed by a cancellable timer instead of a task of mitmproxy's (see the module's text): ``due`` is
    called after ``delay`` unless ``cancel`` came first, and the event is fed to the layer only if ``due`` says so."""

    timer: asyncio.TimerHandle | None = None

    def due(self) -> bool:
        """Is the event still wanted (checked when the timer fires)?"""
        return True

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _time(handler: Any, wakeup: TimedWakeup) -> None:
    def fire() -> None:
        wakeup.timer = None
        if wakeup.due() and handler.client.timestamp_end is None:  # and its client is still there
            _start_for(handler, handler.server_event(events.Wakeup(wakeup)), "wakeup")

    wakeup.timer = asyncio.get_running_loop().call_later(wakeup.delay, fire)


def _start_for(handler: Any, coro: Coroutine[Any, Any, None], name: str) -> None:
    """Run ``coro`` in a task kept among the connection's hook tasks (see hook_tasks)."""
    task = start_task(coro, name, handler.client.peername)
    tasks = hook_tasks(handler)  # a reference kept until it is done, and ConnectionGuard's to cancel
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def start_task(coro: Coroutine[Any, Any, None], name: str, client: Any = None) -> asyncio.Task:
    """A task made as mitmproxy makes its own (named, with its client, for its watchdog's reports)."""
    return asyncio_utils.create_task(coro, name=name, client=client, **_KEEP_REF)


def hook_tasks(handler: Any) -> set[asyncio.Task]:
    """The hook tasks of a connection, where ConnectionGuard cancels them. mitmproxy 11 keeps its own in
    ``handler.hook_tasks``; 12 keeps none per connection, so the ones started here are kept beside the handler."""
    tasks = getattr(handler, "hook_tasks", None)
    if tasks is None:
        tasks = handler.__dict__.setdefault("_pixelguard_hook_tasks", set())
    return tasks


def run_hooks_inline() -> None:
    """Have every proxy connection of this process run its hooks inline where it can (see the module's text).

    Needs the master's addon manager to be a HookCache (``serve`` adopts it first); a connection of a master whose
    manager is not one runs its hooks as mitmproxy does."""
    from mitmproxy.proxy.mode_servers import ProxyConnectionHandler

    if getattr(ProxyConnectionHandler, "pixelguard_inline", False):
        return
    base = ProxyConnectionHandler.server_event

    async def server_event(self: Any, event: events.Event) -> None:
        done = self.__dict__.get(_DONE)
        if done is None:
            if not isinstance(self.master.addons, HookCache):
                return await base(self, event)
            done = self.__dict__[_DONE] = deque()
            layer_events = self.layer.handle_event
            # An attribute of this connection's own top layer (mitmproxy calls only the top one's from here).
            self.layer.handle_event = lambda ev: _hooks_held(self, layer_events(ev), done)
        await base(self, event)
        while done:
            await base(self, events.HookCompleted(done.popleft()))
        if _TUNNEL in self.__dict__:
            _shorten(self, done)
        send_kept()  # what this event gave its connections goes out now, not a step later (proxy/corked_writes.py)

    ProxyConnectionHandler.server_event = server_event  # type: ignore[method-assign]
    ProxyConnectionHandler.pixelguard_inline = True  # type: ignore[attr-defined]


def _hooks_held(
    handler: Any, layer_commands: Iterator[commands.Command], done: deque
) -> Iterator[commands.Command]:
    """The layer's commands for one event with its hooks taken out, and those run once the rest has gone."""
    held: list[commands.StartHook] = []
    for command in layer_commands:
        if isinstance(command, commands.StartHook):
            held.append(command)
            if type(command) is HttpConnectedHook:
                handler.__dict__[_TUNNEL] = True
        elif isinstance(command, TimedWakeup):
            _time(handler, command)
        else:
            yield command
    for hook in held:
        _run(handler, hook, done)


def _shorten(handler: Any, done: deque) -> None:
    """Hand the connection's events straight to its tunnel's layers once the layers above only relay them."""
    tunnel = tunnel_shortcut.relayed_tunnel(handler)
    if isinstance(tunnel, tunnel_shortcut.Wait):
        return
    del handler.__dict__[_TUNNEL]
    if tunnel is not None:
        tunnel_events = tunnel_shortcut.straight_to(tunnel, handler.client)
        handler.layer.handle_event = lambda ev: _hooks_held(handler, tunnel_events(ev), done)


def _run(handler: Any, hook: commands.StartHook, done: deque) -> None:
    data = None
    try:
        (data,) = hook_args(hook)  # as mitmproxy: proxy hooks have one argument
        rest = handler.master.addons.lifecycle_now(hook)
    except Exception as e:
        # An OptionsError from a handler (the one error mitmproxy's rules pass on): in mitmproxy's task it would
        # leave the hook, and the connection, hanging. The handlers after it, pixelguard's decision among them,
        # did not run, so a flow is killed rather than let through undecided; any other hook is completed.
        log.error("pixelguard: the %s hook failed: %s", hook.name, e, exc_info=True)
        if isinstance(data, flow.Flow) and data.killable:
            data.kill()
        rest = None
    if rest is None and not (isinstance(data, flow.Flow) and data.intercepted):
        if hook.blocking:
            done.append(hook)
        return
    _start_for(handler, _finish(handler, hook, rest, data), f"handle_hook({hook.name})")


async def _finish(
    handler: Any, hook: commands.StartHook, rest: Coroutine[Any, Any, None] | None, data: Any
) -> None:
    """The rest of a hook that has to wait, as mitmproxy's ``hook_task`` runs a whole one."""
    with handler.timeout_watchdog.disarm():
        if rest is not None:
            await rest
        if isinstance(data, flow.Flow):
            await data.wait_for_resume()
    if hook.blocking:
        await handler.server_event(events.HookCompleted(hook))


class Onboarding(onboarding.Onboarding):
    """mitm.it, as mitmproxy's Onboarding addon serves it. Its ``request`` handler is a coroutine function, so every
    request's hook went to a task to find that it was not for mitm.it; here a coroutine is returned only for a
    request mitm.it answers."""

    def request(self, f: Any) -> Coroutine[Any, Any, None] | None:  # type: ignore[override]
        if ctx.options.onboarding and self.should_serve(f):
            return super().request(f)
        return None
