"""What the proxy process changes in its interpreter (proxy/interpreter.py): mitmproxy's debugging aids dropped
from the request path, and the garbage collector kept off what lives as long as the process. A real proxy runs
with both in every end-to-end test."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest
from mitmproxy import connection, http, optmanager
from mitmproxy.options import Options
from mitmproxy.proxy.context import Context
from mitmproxy.utils import asyncio_utils, typecheck

from pixelguard.proxy.inline_hooks import start_task
from pixelguard.proxy.interpreter import freeze_heap, production_mode


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """What production_mode replaces is put back after the test (monkeypatch restores what it set first)."""
    if "__post_init__" in vars(http.MessageData):
        monkeypatch.setattr(http.MessageData, "__post_init__", vars(http.MessageData)["__post_init__"])
    monkeypatch.setattr(asyncio_utils, "set_task_debug_info", asyncio_utils.set_task_debug_info)
    monkeypatch.setattr(optmanager._Option, "current", optmanager._Option.current)
    monkeypatch.setattr(Context, "fork", Context.fork)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_requests_and_responses_are_built_without_the_debug_type_check(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    check = typecheck.check_option_type
    monkeypatch.setattr(
        typecheck, "check_option_type", lambda name, *a: checked.append(name) or check(name, *a)
    )
    http.Request.make("GET", "https://example.com/")
    assert checked or "__post_init__" not in vars(
        http.MessageData
    )  # the check runs under pytest, as in a proxy
    checked.clear()
    production_mode()
    request = http.Request.make("GET", "https://example.com/a?b=c", b"body", {"Accept": "*/*"})
    response = http.Response.make(404, b"gone", {"Content-Type": "text/plain"})
    assert checked == []
    assert (request.pretty_url, request.content, request.headers["accept"]) == (
        "https://example.com/a?b=c",
        b"body",
        "*/*",
    )
    assert (response.status_code, response.text) == (404, "gone")


def test_tasks_are_named_without_reading_the_environment(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "a test")
    production_mode()

    async def started() -> asyncio.Task:
        task = start_task(
            asyncio.sleep(0), "handle_hook(request)", ("127.0.0.1", 5)
        )  # mitmproxy's create_task
        await task
        return task

    task = asyncio.run(started())
    assert task.get_name() == "handle_hook(request)"  # mitmproxy 11 added " [created in a test]"
    assert task.client == ("127.0.0.1", 5)  # type: ignore[attr-defined]
    assert task.created > 0  # type: ignore[attr-defined]


def test_a_cycle_dropped_before_the_freeze_is_collected_not_frozen(unfrozen: None) -> None:
    gone = weakref.ref(_Cycle())
    freeze_heap()
    assert gone() is None
    assert gc.get_freeze_count() > 0


def test_what_was_frozen_and_then_dropped_is_collected_at_the_next_freeze(unfrozen: None) -> None:
    kept = _Cycle()
    freeze_heap()
    gone = weakref.ref(kept)
    del kept
    gc.collect()
    assert gone() is not None  # a frozen cycle outlives its use until the next freeze_heap
    freeze_heap()
    assert gone() is None


def test_objects_alive_at_the_freeze_are_out_of_later_collections(unfrozen: None) -> None:
    kept = _Cycle()
    freeze_heap()
    assert not any(o is kept for o in gc.get_objects())  # the permanent generation is never walked
    assert kept.me is kept


def test_options_read_the_same_after_production_mode_and_mutable_values_are_still_copies(
    restored: None,
) -> None:
    from mitmproxy import options

    opts = options.Options()
    opts.update(listen_host="127.0.0.1", listen_port=8099, ignore_hosts=["a.example"])
    names = opts.keys()
    before = {name: getattr(opts, name) for name in names}
    assert "a deep copy of immutable option values at each read" in production_mode()
    assert {name: getattr(opts, name) for name in names} == before  # set values and defaults alike
    hosts = opts.ignore_hosts
    hosts.append("b.example")
    assert opts.ignore_hosts == ["a.example"]  # a list is still handed out as a copy
    assert opts.listen_port == 8099 and opts.ssl_insecure is False and opts.mode == ["regular"]


def test_a_forked_context_is_the_same_connection_without_a_server_made_for_nothing(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    uuid4 = connection.uuid.uuid4

    class _Counted:  # mitmproxy.connection's uuid module, counting the ids of new connections
        @staticmethod
        def uuid4() -> object:
            made.append("id")
            return uuid4()

    monkeypatch.setattr(connection, "uuid", _Counted)
    client = connection.Client(peername=("127.0.0.1", 5), sockname=("127.0.0.1", 8080), timestamp_start=1.0)
    ctx = Context(client, Options())
    ctx.server = connection.Server(address=("example.com", 443))
    ctx.layers = ["outer", "inner"]  # type: ignore[list-item]
    made.clear()
    ctx.fork()
    assert made == ["id"]  # mitmproxy's fork makes a Server and throws it away
    assert "a server connection made and thrown away at each fork of a layer's context" in production_mode()
    made.clear()
    forked = ctx.fork()
    assert made == []
    assert type(forked) is Context
    assert (forked.client, forked.options, forked.server) == (ctx.client, ctx.options, ctx.server)
    assert forked.server is ctx.server
    assert forked.layers == ["outer", "inner"] and forked.layers is not ctx.layers
    forked.layers.append("child")
    assert ctx.layers == ["outer", "inner"]  # a child layer pushed on the fork stays off its parent's stack
