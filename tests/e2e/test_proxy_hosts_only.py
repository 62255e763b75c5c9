"""Hosts-only mode, for clients without the CA: tracker hosts refused at CONNECT, other TLS untouched."""

from __future__ import annotations

import ssl

import pytest
from harness import Origin, Proxy, fetch, wait_for

pytestmark = pytest.mark.e2e

LIST = "||tracker.test^\n||localhost^\n/track/*\n"


@pytest.fixture
def proxy(make_proxy) -> Proxy:
    return make_proxy({"hosts": LIST}, mode="hosts-only")


def test_tracker_host_is_refused_at_connect(proxy: Proxy, origin: Origin) -> None:
    for host, port in (("tracker.test", 443), ("localhost", origin.https_port)):
        with pytest.raises(OSError, match="403"):
            fetch(f"https://{host}:{port}/track/x.gif", proxy.port, context=ssl.create_default_context())
    assert origin.hits["/track/x.gif"] == 0
    row = wait_for(lambda: proxy.events(host="tracker.test"), what="the host event")[0]
    assert (row["reason"], row["action"], row["rule"]) == ("host", "blocked", "||tracker.test^")


def test_other_tls_passes_through_without_interception(proxy: Proxy, origin: Origin) -> None:
    body = b"\x00\x01secret-ish bytes\xff" * 1000
    origin.serve("/track/tls.bin", body, "application/octet-stream")
    # The client trusts only the origin's own CA: this works only if the proxy did not intercept.
    r = fetch(
        origin.url("/track/tls.bin", https=True),
        proxy.port,
        context=ssl.create_default_context(cafile=str(origin.certs.ca)),
    )
    assert r.status == 200 and r.body == body
    assert origin.hits["/track/tls.bin"] == 1  # URL rules cannot see inside the tunnel


def test_plain_http_still_gets_full_url_matching(proxy: Proxy, origin: Origin) -> None:
    r = proxy.get(origin.url("/track/plain.gif"), {"Accept": "image/*"})
    assert r.headers["X-Pixelguard"] == "blocked"
    assert origin.hits["/track/plain.gif"] == 0
    origin.serve("/ok/plain.txt", b"fine", "text/plain")
    assert proxy.get(origin.url("/ok/plain.txt")).body == b"fine"


def test_the_mode_says_at_start_what_it_can_and_cannot_block(proxy: Proxy) -> None:
    """Issue 28: hosts-only mode blocked almost nothing with the default lists and said nothing at start."""
    line = wait_for(lambda: next((ln for ln in proxy.log().splitlines() if "hosts-only mode" in ln), None),
                    what="the start line")  # fmt: skip
    # Two of the list's three rules block a whole host (tracker.test, localhost); /track/* needs full mode.
    assert "only rules that block a whole host apply (2 hosts of 3 rules)" in line
    assert "proxy.mode: full" in line
