"""The CONNECT fast path in full mode (issue 25): a tunnel is refused before any TLS handshake only to a host where
every request would be blocked, whatever its page, type, method or path, and nothing on that host could undo it.
Each row says why a host is, or is not, blocked whole. Pure: the engine and the pipeline, no proxy (the proxy's
refusal is tested in e2e/test_proxy_block.py)."""

from __future__ import annotations

import pytest

from pixelguard.decision.decision import Action
from pixelguard.decision.pipeline import REFUSED_TUNNEL, Pipeline
from pixelguard.decision.request_model import RequestModel, header_map
from pixelguard.engine import Engine
from pixelguard.limits import PAGE_EXCEPTION_CLIENTS, PAGE_EXCEPTION_WINDOW_S


@pytest.mark.parametrize(
    ("rules", "host", "whole"),
    [
        ("||tracker.example^", "tracker.example", True),
        ("||tracker.example^", "px.tracker.example", True),  # a parent domain's rule covers subdomains
        ("0.0.0.0 tracker.example", "tracker.example", True),  # a hosts-file line is a whole-host rule
        ("||tracker.example^$all", "tracker.example", True),
        ("||px.tracker.example^", "tracker.example", False),  # a subdomain's rule is not the parent's
        ("||tracker.example^$third-party", "tracker.example", False),  # first-party requests pass
        ("||tracker.example^$image", "tracker.example", False),  # other types pass
        ("||tracker.example^$domain=site.example", "tracker.example", False),  # other pages' requests pass
        ("||tracker.example^$method=post", "tracker.example", False),
        ("||tracker.example/tr", "tracker.example", False),  # a path: other paths pass
        (
            "||tracker.example^\n@@||tracker.example/ok.js$script,domain=site.example",
            "tracker.example",
            False,
        ),
        ("||tracker.example^\n@@||tracker.example^$domain=site.example", "tracker.example", False),
        (
            "||tracker.example^\n@@||tracker.example/ok.js",
            "px.tracker.example",
            False,
        ),  # a parent's exception
        ("||tracker.example^\n@@||px.tracker.example^", "tracker.example", True),  # a subdomain's: not here
        ("||tracker.example^\n||tracker.example/lib.js$script,redirect=noop.js", "tracker.example", False),
        ("||tracker.example^\n||tracker.example/lib.js$redirect-rule=noop.js", "tracker.example", False),
        ("||tracker.example^$important\n@@||tracker.example/ok.js", "tracker.example", True),  # beaten
        ("||tracker.example^$important\n@@||tracker.example/ok.js$important", "tracker.example", False),
        # Only the host is known at CONNECT: an exception without a host part cannot be matched there, and is
        # ignored, as DNS-level blocking ignores it (the page-level kind is handled per client, below).
        ("||tracker.example^\n@@/ok.js$script", "tracker.example", True),
        ("||tracker.example^\n||tracker.example^$badfilter", "tracker.example", False),
        ("", "tracker.example", False),
    ],
)
def test_a_host_is_blocked_whole_only_when_nothing_can_let_a_request_through(
    rules: str, host: str, whole: bool
) -> None:
    assert Engine.from_text(rules, "t").blocks_whole_host(host).blocked is whole


def test_the_verdict_names_the_rule_and_is_remembered_per_engine() -> None:
    engine = Engine.from_text("! a comment\n||tracker.example^\n", "t")
    v = engine.blocks_whole_host("tracker.example")
    assert (v.rule, v.list, v.line) == ("||tracker.example^", "t", 2)
    assert engine.blocks_whole_host("tracker.example") is v
    assert (
        not Engine.from_text("", "t").blocks_whole_host("tracker.example").blocked
    )  # a new engine: new memo


def test_hostile_connect_targets_are_not_blocked_and_do_not_fail() -> None:
    engine = Engine.from_text("||tracker.example^", "t")
    for host in ("", "::1", "[::1]", "a" * 5000, "tracker.example\x00", "..", "tracker..example"):
        assert not engine.blocks_whole_host(host).blocked


PAGE_RULES = "||tracker.example^\n@@||trusted.example^$document\n"


def _pipeline(rules: str = PAGE_RULES, **kw: object) -> tuple[Pipeline, list[float]]:
    now = [1000.0]
    return Pipeline(Engine.from_text(rules, "t"), clock=lambda: now[0], **kw), now  # type: ignore[arg-type]


def _navigate(p: Pipeline, url: str, client: str) -> None:
    req = RequestModel.from_url(
        url,
        headers=header_map([("Sec-Fetch-Mode", "navigate"), ("Sec-Fetch-Dest", "document")]),
        client=client,
    )
    p.decide_url(req)


def test_full_mode_refuses_the_tunnel_and_says_why() -> None:
    p, _ = _pipeline()
    d = p.decide_connect("tracker.example", "10.0.0.2")
    assert d.action is Action.BLOCKED and d.reason is not None
    assert (d.reason.stage, d.reason.rule, d.reason.detail) == ("host", "||tracker.example^", REFUSED_TUNNEL)
    assert p.decide_connect("news.example", "10.0.0.2").action is Action.PASSED


def test_switched_off_the_tunnel_is_decrypted_and_each_request_decided() -> None:
    p, _ = _pipeline(refuse_blocked_tunnels=False)
    assert p.decide_connect("tracker.example", "10.0.0.2").action is Action.PASSED


def test_a_client_on_a_page_a_document_exception_allows_keeps_its_tunnels_for_a_while() -> None:
    """`@@||trusted.example^$document` allows every request trusted.example's pages make, trackers' included. A
    CONNECT does not say which page it is for, so the client that loaded such a page keeps its tunnels (its
    requests are decided one by one, with the page known); other clients do not, nor does it after the window."""
    p, now = _pipeline()
    _navigate(p, "https://news.example/", "10.0.0.2")  # a page nothing allows: no change
    assert p.decide_connect("tracker.example", "10.0.0.2").stopped
    _navigate(p, "https://trusted.example/home", "10.0.0.2")
    assert p.decide_connect("tracker.example", "10.0.0.2").action is Action.PASSED
    assert p.decide_connect("tracker.example", "10.0.0.3").stopped
    now[0] += PAGE_EXCEPTION_WINDOW_S + 1
    assert p.decide_connect("tracker.example", "10.0.0.2").stopped


def test_clients_remembered_on_excepted_pages_are_bounded() -> None:
    p, _ = _pipeline()
    for i in range(PAGE_EXCEPTION_CLIENTS + 50):
        _navigate(p, "https://trusted.example/", f"client-{i}")
    assert len(p.on_excepted_page) == PAGE_EXCEPTION_CLIENTS
    assert (
        "client-0" not in p.on_excepted_page and f"client-{PAGE_EXCEPTION_CLIENTS + 49}" in p.on_excepted_page
    )
