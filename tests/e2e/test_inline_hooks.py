"""Hooks run inline (proxy/inline_hooks.py), through a real `pixelguard run` with a mitmproxy script of its own:
each hook still runs in mitmproxy's order and its effects reach the request, a handler that returns an awaitable
is waited for, a flow a handler intercepts waits until it is resumed, and the hooks whose handlers all return at
once run without a task of their own."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import REPO, Origin, Proxy

# Writes, per hook, the request's path, the hook, whether it ran in a task of its own (mitmproxy names the task it
# starts for a hook "handle_hook(<hook>)"; a hook run inline runs where the event that raised it is handled) and
# whether it ran in no task at all (the step of the event loop that read the bytes: proxy/direct_reads.py).
SCRIPT = """
import asyncio, json, os, sys
sys.path.insert(0, os.environ["PG_TEST_E2E_DIR"])
from resolve_local import server_connect

LOG = os.environ["PG_TEST_HOOK_LOG"]

def _note(flow, hook):
    task = asyncio.current_task()
    with open(LOG, "a") as f:
        own = bool(task and task.get_name() == f"handle_hook({hook})")
        f.write(json.dumps([flow.request.path, hook, own, task is None]) + "\\n")

def requestheaders(flow):
    _note(flow, "requestheaders")

def running():
    # Each send the proxy makes, noted as made once an event has been handled (send_kept, or a close that sends
    # first) or not (by the loop's call of _flush, a step later).
    import pixelguard.proxy.corked_writes as corked
    send = corked._write

    def noted(writer, data):
        caller = sys._getframe(2)  # noted <- _flush <- who asked for the send
        later = caller.f_code.co_filename.endswith(os.path.join("asyncio", "events.py"))
        with open(os.environ["PG_TEST_SEND_LOG"], "a") as f:
            f.write(("step" if later else "event") + "\\n")
        return send(writer, data)

    corked._write = noted

    # Each event the CONNECT's stream relays to its tunnel (proxy/tunnel_shortcut.py takes it out of the way).
    from mitmproxy.proxy.layers.http import HttpStream
    relay = HttpStream.passthrough

    def relayed(self, event):
        with open(os.environ["PG_TEST_RELAY_LOG"], "a") as f:
            f.write(type(event).__name__ + "\\n")
        return relay(self, event)

    HttpStream.passthrough = relayed

async def _slow(flow):
    await asyncio.sleep(0.05)
    flow.request.headers["X-Waited"] = "yes"

def _resume(flow):
    flow.request.headers["X-Resumed"] = "yes"
    flow.resume()

def request(flow):
    _note(flow, "request")
    if flow.request.path == "/options-error":
        from mitmproxy import exceptions
        raise exceptions.OptionsError("a script's handler failed")
    if flow.request.path == "/slow":
        return _slow(flow)
    if flow.request.path == "/held":
        flow.intercept()
        asyncio.get_running_loop().call_later(0.05, _resume, flow)
    flow.request.headers["X-Seen"] = flow.request.path

def responseheaders(flow):
    _note(flow, "responseheaders")

def response(flow):
    _note(flow, "response")
    flow.response.headers["X-Response-Hook"] = "ran"
    # What is left of the tunnel's wakeup (proxy/server_first.py): mitmproxy's tasks for one are named "wakeup
    # timer (...)"; pixelguard's timers are the loop's, found in its (private) heap of scheduled callbacks.
    loop = asyncio.get_running_loop()
    tasks = sum(t.get_name().startswith("wakeup timer") for t in asyncio.all_tasks())
    timers = sum(not h.cancelled() and "_time.<locals>.fire" in repr(h) for h in loop._scheduled)
    with open(os.environ["PG_TEST_WAKEUP_LOG"], "a") as f:
        f.write(json.dumps([flow.request.path, tasks, timers]) + "\\n")
"""


@pytest.fixture
def scripted(
    tmp_path: Path, make_proxy: Callable[..., Proxy], origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> tuple[Proxy, Path]:
    log = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("PG_TEST_HOOK_LOG", str(log))
    monkeypatch.setenv("PG_TEST_SEND_LOG", str(tmp_path / "sends.txt"))
    monkeypatch.setenv("PG_TEST_WAKEUP_LOG", str(tmp_path / "wakeups.jsonl"))
    monkeypatch.setenv("PG_TEST_RELAY_LOG", str(tmp_path / "relays.txt"))
    monkeypatch.setenv("PG_TEST_E2E_DIR", str(REPO / "tests" / "e2e"))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTP", str(origin.http_port))
    monkeypatch.setenv("PIXELGUARD_TEST_ORIGIN_HTTPS", str(origin.https_port))
    script = tmp_path / "hooks.py"
    script.write_text(SCRIPT)
    return make_proxy({}, "--set", f"scripts={script}"), log


def _rows(log: Path) -> list[list[Any]]:
    """The rows the proxy's script wrote to one of its JSON-lines logs."""
    return [json.loads(line) for line in log.read_text().splitlines()]


def _hooks(log: Path, path: str) -> list[tuple[str, bool]]:
    return [(hook, in_task) for p, hook, in_task, _ in _rows(log) if p == path]


def _read_steps(log: Path, path: str) -> list[tuple[str, bool]]:
    """Per hook of ``path``: did it run in the step of the loop that read what raised it (no task at all)?"""
    return [(hook, no_task) for p, hook, _, no_task in _rows(log) if p == path]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_hooks_run_in_order_and_inline_and_their_effects_reach_the_request(
    scripted: tuple[Proxy, Path], origin: Origin, scheme: str
) -> None:
    proxy, log = scripted
    origin.serve("/plain", b"plain body", "text/plain")
    r = proxy.get(f"{scheme}://inline.unlisted.test/plain")
    assert (r.status, r.body, r.headers.get("X-Response-Hook")) == (200, b"plain body", "ran")
    seen = [h for host, path, h in origin.requests if host == "inline.unlisted.test" and path == "/plain"]
    assert seen and seen[-1].get("X-Seen") == "/plain"  # what the request hook set went upstream
    order = ["requestheaders", "request", "responseheaders", "response"]
    assert _hooks(log, "/plain") == [(h, False) for h in order]  # each once, in order, none in a task
    # The response's hooks in the step of the loop that read the response; over HTTPS the request's too (over HTTP
    # a new connection's request may have come before its task began reading: that task handles it).
    steps = dict(_read_steps(log, "/plain"))
    assert all(steps[h] for h in (order if scheme == "https" else order[2:])), steps


def test_what_an_event_gives_a_connection_is_sent_when_the_event_has_been_handled(
    scripted: tuple[Proxy, Path], origin: Origin, tmp_path: Path
) -> None:
    # Not a step later, behind the loop's other callbacks (proxy/corked_writes.py): the CONNECT answer, both
    # handshakes' flights, the request and the response are each sent once the event that gave them is handled.
    proxy, _log = scripted
    origin.serve("/sent", b"sent body", "text/plain")
    assert proxy.get("https://sent.unlisted.test/sent").body == b"sent body"
    sends = (tmp_path / "sends.txt").read_text().split()
    assert len(sends) >= 5 and set(sends) == {"event"}, sends


def test_a_tunnel_its_client_has_spoken_in_leaves_no_wakeup_behind(
    scripted: tuple[Proxy, Path], origin: Origin, tmp_path: Path
) -> None:
    # A tunnel is given a wakeup in case its server speaks first (proxy/server_first.py). Once the client's
    # handshake has decided it, nothing of that wakeup is left to wake the proxy a second later: no task of
    # mitmproxy's sleeping for it, no timer of the loop's.
    proxy, _log = scripted
    origin.serve("/decided", b"decided body", "text/plain")
    assert proxy.get("https://decided.unlisted.test/decided").body == b"decided body"
    rows = _rows(tmp_path / "wakeups.jsonl")
    assert [(tasks, timers) for path, tasks, timers in rows if path == "/decided"] == [(0, 0)]


def test_an_established_tunnel_is_handled_by_its_own_layers_alone(
    scripted: tuple[Proxy, Path], origin: Origin, tmp_path: Path
) -> None:
    # Once the CONNECT is answered, the layers that carried it have nothing left to do but pass the tunnel's events
    # on (proxy/tunnel_shortcut.py): three requests in one tunnel, each answered, none of their events relayed
    # by the CONNECT's stream. mitmproxy's own path relays each read and each close of the tunnel there.
    proxy, _log = scripted
    origin.serve("/kept", b"kept body", "text/plain")
    relays = tmp_path / "relays.txt"
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=10, context=proxy.client_context())
    conn.set_tunnel("kept.unlisted.test", 443)
    bodies = []
    try:
        for _ in range(3):
            conn.request("GET", "/kept")
            bodies.append(conn.getresponse().read())
    finally:
        conn.close()
    assert bodies == [b"kept body"] * 3
    # The proxy goes on serving once that tunnel has closed.
    assert proxy.get("https://after.unlisted.test/kept").body == b"kept body"
    assert not relays.exists(), relays.read_text().split()


def test_a_handler_that_returns_an_awaitable_is_waited_for(
    scripted: tuple[Proxy, Path], origin: Origin
) -> None:
    proxy, log = scripted
    origin.serve("/slow", b"slow body", "text/plain")
    r = proxy.get("https://slow.unlisted.test/slow")
    assert (r.status, r.body, r.headers.get("X-Response-Hook")) == (200, b"slow body", "ran")
    seen = [h for host, path, h in origin.requests if host == "slow.unlisted.test" and path == "/slow"]
    assert (
        seen and seen[-1].get("X-Waited") == "yes"
    )  # the request went upstream only once the handler was done
    assert [h for h, _ in _hooks(log, "/slow")] == [
        "requestheaders",
        "request",
        "responseheaders",
        "response",
    ]


def test_an_intercepted_flow_waits_until_it_is_resumed(scripted: tuple[Proxy, Path], origin: Origin) -> None:
    proxy, log = scripted
    origin.serve("/held", b"held body", "text/plain")
    r = proxy.get("https://held.unlisted.test/held")
    assert (r.status, r.body) == (200, b"held body")
    seen = [h for host, path, h in origin.requests if host == "held.unlisted.test" and path == "/held"]
    assert seen and seen[-1].get("X-Resumed") == "yes"  # set at resume: nothing went upstream before it
    assert [h for h, _ in _hooks(log, "/held")] == [
        "requestheaders",
        "request",
        "responseheaders",
        "response",
    ]


def test_mitm_it_still_serves_the_ca_and_other_requests_do_not_wait_for_it(
    scripted: tuple[Proxy, Path], origin: Origin
) -> None:
    """mitm.it's addon now returns a coroutine only for mitm.it's own requests (inline_hooks.Onboarding)."""
    proxy, log = scripted
    r = proxy.get("http://mitm.it/cert/pem")
    assert r.status == 200 and r.body == proxy.ca.read_bytes()
    assert [h for h, _ in _hooks(log, "/cert/pem")][:2] == ["requestheaders", "request"]
    origin.serve("/other", b"other body", "text/plain")
    assert proxy.get("http://other.unlisted.test/other").body == b"other body"
    assert ("request", False) in _hooks(log, "/other")  # not in a task of its own: mitm.it's handler returned


def test_a_flow_whose_hook_fails_is_stopped_not_let_through_and_the_proxy_goes_on(
    scripted: tuple[Proxy, Path], origin: Origin
) -> None:
    """An OptionsError passes mitmproxy's error rules, so the handlers after the script's (pixelguard's decision
    among them) never ran: the request must not go upstream undecided, nor hang as in mitmproxy's own task."""
    proxy, log = scripted
    origin.serve("/options-error", b"should not be fetched", "text/plain")
    try:
        r = proxy.get("http://failing.unlisted.test/options-error", timeout=5)
    except OSError:
        answered = None  # the killed flow's connection closed without a response
    else:
        answered = r.status
    assert answered is None or answered >= 500, answered
    assert not [p for host, p, _ in origin.requests if p == "/options-error"]
    assert ("request", False) in _hooks(log, "/options-error")
    origin.serve("/after", b"after body", "text/plain")
    assert proxy.get("http://failing.unlisted.test/after").body == b"after body"
